/**
 * Constants both ends of the agent channel agree on (SPEC G2).
 */

/** The name in the controller's gRPC certificate; agents pin the agent CA and verify this name, not a host name. */
export const CONTROLLER_GRPC_NAME = 'controller.certfleet.internal';

/** Largest message an agent sends (results, observations). */
export const MAX_AGENT_MESSAGE_BYTES = 1024 * 1024;

/**
 * Most bytes of discovered endpoints in one ScanProgress message (SPEC S1): well under
 * {@link MAX_AGENT_MESSAGE_BYTES}, leaving room for the envelope and the counters.
 */
export const MAX_SCAN_CHUNK_BYTES = 768 * 1024;

/** Most discovered endpoints in one ScanProgress message. */
export const MAX_SCAN_CHUNK_ENDPOINTS = 256;

/** Largest message the controller sends (a job carrying a sealed bundle of at most 20 MiB). */
export const MAX_CONTROLLER_MESSAGE_BYTES = 24 * 1024 * 1024;

/** gRPC trailer carrying the CertFleet error code of a failed call. */
export const ERROR_CODE_TRAILER = 'cf-code';
