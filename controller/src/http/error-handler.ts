import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { CertFleetError, isCertFleetError, type ErrorCode } from '@certfleet/shared';

/** Every error code's HTTP status. Exhaustive: a new code without a status does not compile. */
export const httpStatusByCode: Record<ErrorCode, number> = {
  CF_VALIDATION: 400,
  CF_NOT_FOUND: 404,
  CF_CONFLICT: 409,
  CF_UNAUTHORIZED: 401,
  CF_FORBIDDEN: 403,
  CF_CSRF: 403,
  CF_RATE_LIMITED: 429,
  CF_IP_NOT_ALLOWED: 403,
  CF_CLIENT_CERT_REQUIRED: 403,
  CF_INTERNAL: 500,
  CF_CONFIG_INVALID: 500,
  CF_IMPORT_UNKNOWN_FORMAT: 422,
  CF_IMPORT_CORRUPT: 422,
  CF_IMPORT_WRONG_PASSWORD: 422,
  CF_IMPORT_PASSWORD_REQUIRED: 422,
  CF_IMPORT_KEY_MISMATCH: 422,
  CF_IMPORT_UNSUPPORTED_ALGORITHM: 422,
  CF_IMPORT_TOO_LARGE: 413,
  CF_IMPORT_ITERATIONS_TOO_HIGH: 422,
  CF_IMPORT_CHAIN_TOO_LONG: 422,
  CF_IMPORT_NO_CERTIFICATE: 422,
  CF_IMPORT_DUPLICATE: 409,
  CF_CRYPTO_INTEGRITY: 500,
  CF_KEK_MISSING: 500,
  CF_KEY_EXPORT_FORBIDDEN: 403,
  CF_DOCUMENT_TOO_LARGE: 413,
  CF_BACKUP_CORRUPT: 422,
  CF_RESTORE_TARGET_NOT_EMPTY: 409,
  CF_DB_UNAVAILABLE: 503,
  CF_CSR_INVALID: 422,
  CF_ISSUER_CONFIG_INVALID: 400,
  CF_ISSUER_REJECTED: 422,
  CF_ISSUER_UNAVAILABLE: 503,
  CF_ISSUER_CHALLENGE_FAILED: 422,
  CF_ACQUISITION_STATE: 409,
  CF_CA_UNAVAILABLE: 409,
  CF_SMTP_NOT_CONFIGURED: 409,
  CF_SMTP_FAILED: 502,
  CF_BUNDLE_TOO_LARGE: 422,
  CF_BUNDLE_DECRYPT: 422,
  CF_BUNDLE_WORK_FACTOR_TOO_HIGH: 422,
  CF_BUNDLE_MALFORMED: 422,
  CF_BUNDLE_SIGNATURE: 422,
  CF_BUNDLE_RECIPIENT: 422,
  CF_BUNDLE_EXPIRED: 422,
  CF_BUNDLE_ROLLBACK: 409,
  CF_BUNDLE_HASH: 422,
  CF_BUNDLE_KEY_MISMATCH: 422,
  CF_AGENT_TOKEN_INVALID: 403,
  CF_AGENT_UNAUTHENTICATED: 401,
  CF_AGENT_REVOKED: 403,
  CF_DEPLOYMENT_TARGET_INVALID: 422,
  CF_RECEIPT_INVALID: 422,
  CF_INSTALL_FAILED: 502,
  CF_CONTROLLER_NOT_RUNNING: 503,
  CF_MONITOR_RUN_INTERRUPTED: 503,
  CF_TRUST_SET_READ_ONLY: 409,
  CF_TRUST_SET_IN_USE: 409,
  CF_ENDPOINT_DERIVED: 409,
};

/** Maps framework errors (bad JSON, body too large, unsupported media type) to our typed errors. */
function fromFastifyError(err: FastifyError): CertFleetError | null {
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new CertFleetError('CF_VALIDATION', 'http: request body is too large', {
        details: { limitExceeded: true },
      });
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new CertFleetError('CF_VALIDATION', `http: ${err.message}`);
    default:
      if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
        return new CertFleetError(err.statusCode === 404 ? 'CF_NOT_FOUND' : 'CF_VALIDATION', `http: ${err.message}`);
      }
      return null;
  }
}

/**
 * The one error handler: `{ error: { code, message, details? } }` with the mapped status. Unexpected errors are
 * logged once here and answered as CF_INTERNAL without internals.
 */
export function errorHandler(err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  let e: CertFleetError | null = isCertFleetError(err) ? (err as unknown as CertFleetError) : fromFastifyError(err);
  if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE' && req.url.includes('/documents')) {
    e = new CertFleetError('CF_DOCUMENT_TOO_LARGE', 'document: the file is over the limit of 20 MB');
  }
  if (!e) {
    req.log.error({ err }, 'unhandled error');
    e = new CertFleetError('CF_INTERNAL', 'internal error');
  } else if (httpStatusByCode[e.code] >= 500) {
    req.log.error({ code: e.code, msg: e.message }, 'server error');
  }
  const status = err.code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? 413 : httpStatusByCode[e.code];
  void reply.status(status).send(e.toJSON());
}
