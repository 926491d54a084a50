/**
 * The one error type of CertFleet. Callers branch on `code`, never on `instanceof` of a subclass.
 *
 * Codes are stable (`CF_<AREA>_<WHAT>`) and documented in `docs/errors.md`. Each transport edge maps every
 * code exhaustively (`Record<ErrorCode, …>`), so adding a code without a mapping does not compile.
 */
export const ERROR_CODES = [
  // generic
  'CF_VALIDATION',
  'CF_NOT_FOUND',
  'CF_CONFLICT',
  'CF_UNAUTHORIZED',
  'CF_FORBIDDEN',
  // access control of the console and API (SPEC U1, U2, U4)
  'CF_CSRF',
  'CF_RATE_LIMITED',
  'CF_IP_NOT_ALLOWED',
  'CF_CLIENT_CERT_REQUIRED',
  'CF_INTERNAL',
  'CF_CONFIG_INVALID',
  // import / parsing (SPEC I3)
  'CF_IMPORT_UNKNOWN_FORMAT',
  'CF_IMPORT_CORRUPT',
  'CF_IMPORT_WRONG_PASSWORD',
  'CF_IMPORT_PASSWORD_REQUIRED',
  'CF_IMPORT_KEY_MISMATCH',
  'CF_IMPORT_UNSUPPORTED_ALGORITHM',
  'CF_IMPORT_TOO_LARGE',
  'CF_IMPORT_ITERATIONS_TOO_HIGH',
  'CF_IMPORT_CHAIN_TOO_LONG',
  'CF_IMPORT_NO_CERTIFICATE',
  'CF_IMPORT_DUPLICATE',
  // secrets at rest (SPEC R4)
  'CF_CRYPTO_INTEGRITY',
  'CF_KEK_MISSING',
  'CF_KEY_EXPORT_FORBIDDEN',
  // documents (SPEC R5)
  'CF_DOCUMENT_TOO_LARGE',
  // backup / restore (SPEC R9)
  'CF_BACKUP_CORRUPT',
  'CF_RESTORE_TARGET_NOT_EMPTY',
  // storage
  'CF_DB_UNAVAILABLE',
  // acquisition (SPEC A1–A5, C1–C7, O2)
  'CF_CSR_INVALID',
  'CF_ISSUER_CONFIG_INVALID',
  'CF_ISSUER_REJECTED',
  'CF_ISSUER_UNAVAILABLE',
  'CF_ISSUER_CHALLENGE_FAILED',
  'CF_ACQUISITION_STATE',
  'CF_CA_UNAVAILABLE',
  // notifications (SPEC N1–N3)
  'CF_SMTP_NOT_CONFIGURED',
  'CF_SMTP_FAILED',
  // sealed bundles (SPEC D2, D3, G2)
  'CF_BUNDLE_TOO_LARGE',
  'CF_BUNDLE_DECRYPT',
  'CF_BUNDLE_WORK_FACTOR_TOO_HIGH',
  'CF_BUNDLE_MALFORMED',
  'CF_BUNDLE_SIGNATURE',
  'CF_BUNDLE_RECIPIENT',
  'CF_BUNDLE_EXPIRED',
  'CF_BUNDLE_ROLLBACK',
  'CF_BUNDLE_HASH',
  'CF_BUNDLE_KEY_MISMATCH',
  // agents and deployment (SPEC G1–G5, D1–D5)
  'CF_AGENT_TOKEN_INVALID',
  'CF_AGENT_UNAUTHENTICATED',
  'CF_AGENT_REVOKED',
  'CF_DEPLOYMENT_TARGET_INVALID',
  'CF_RECEIPT_INVALID',
  'CF_INSTALL_FAILED',
  // monitoring runs (SPEC M1)
  'CF_CONTROLLER_NOT_RUNNING',
  'CF_MONITOR_RUN_INTERRUPTED',
  // trusted CA sets (SPEC T1, T2)
  'CF_TRUST_SET_READ_ONLY',
  'CF_TRUST_SET_IN_USE',
  // monitored endpoints derived from deploy targets (SPEC D1, D6)
  'CF_ENDPOINT_DERIVED',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export interface CertFleetErrorOptions {
  /** True when trying again later may succeed (network, lock, busy); false when the same input gives the same answer. */
  retryable?: boolean;
  /** Safe, non-secret context for API responses and logs. */
  details?: Record<string, unknown>;
  cause?: unknown;
}

/** Thrown for every expected failure in CertFleet; anything else reaching an edge is a bug (CF_INTERNAL). */
export class CertFleetError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: CertFleetErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CertFleetError';
    this.code = code;
    this.retryable = options.retryable ?? false;
    if (options.details) this.details = options.details;
  }

  /** The JSON shape used by the CLI and the REST API: `{ error: { code, message, details? } }`. */
  toJSON(): { error: { code: ErrorCode; message: string; details?: Record<string, unknown> } } {
    return { error: { code: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) } };
  }
}

/** True when `err` is a CertFleetError (works across duplicate module copies by checking the code shape). */
export function isCertFleetError(err: unknown): err is CertFleetError {
  return (
    err instanceof CertFleetError ||
    (typeof err === 'object' &&
      err !== null &&
      typeof (err as { code?: unknown }).code === 'string' &&
      (ERROR_CODES as readonly string[]).includes((err as { code: string }).code) &&
      err instanceof Error)
  );
}
