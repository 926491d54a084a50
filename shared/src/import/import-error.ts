/** Building and normalizing the errors an import throws. */
import { CertFleetError, type CertFleetErrorOptions, type ErrorCode, isCertFleetError } from '../errors';
import { DecodeError } from '../x509/decode-error';
import type { MaterialFormat } from './parse-material';

/** Where an import error comes from; it becomes the message prefix `import(<origin>): …`. */
export type ImportOrigin = MaterialFormat | 'key' | 'chain';

/** `new CertFleetError(code, "import(<origin>): <message>")`; a null origin gives `import: <message>`. */
export function importError(
  code: ErrorCode,
  origin: ImportOrigin | null,
  message: string,
  options?: CertFleetErrorOptions
): CertFleetError {
  return new CertFleetError(code, `import${origin === null ? '' : `(${origin})`}: ${message}`, options);
}

/**
 * Normalizes anything thrown while importing into a CF_IMPORT_* error: CertFleetErrors pass through, decode
 * failures map to CF_IMPORT_CORRUPT / CF_IMPORT_UNSUPPORTED_ALGORITHM, and any other exception (a library bug,
 * a RangeError…) becomes CF_IMPORT_CORRUPT with the original kept as `cause`. `secrets` are removed from the
 * wrapped message so a library that echoes its input cannot leak a password.
 */
export function toImportError(
  err: unknown,
  origin: ImportOrigin,
  secrets: readonly (string | undefined)[]
): CertFleetError {
  if (isCertFleetError(err)) return err;
  if (err instanceof DecodeError) {
    const code = err.failure === 'unsupported' ? 'CF_IMPORT_UNSUPPORTED_ALGORITHM' : 'CF_IMPORT_CORRUPT';
    return importError(code, origin, err.message, { cause: err });
  }
  const raw = err instanceof Error ? err.message : String(err);
  return importError('CF_IMPORT_CORRUPT', origin, `unreadable input (${redact(raw, secrets)})`, { cause: err });
}

function redact(text: string, secrets: readonly (string | undefined)[]): string {
  let out = text.length > 200 ? `${text.slice(0, 200)}…` : text;
  for (const secret of secrets) {
    if (secret !== undefined && secret.length > 0) out = out.split(secret).join('***');
  }
  return out;
}
