// The one probe engine (SPEC M1–M6, S1, D6), shared by the controller and the agent.
export {
  type ProbeErrorCode,
  type ProbeObservation,
  type ProbeOptions,
  type StartTlsProtocol,
  DEFAULT_PROBE_TIMEOUT_MS,
  PROBE_ERROR_CODES,
  STARTTLS_PROTOCOLS,
  probeEndpoint,
  sniFor,
} from './probe';
export { fingerprints, sha1Fingerprint, sha256Fingerprint } from './fingerprints';
