/** How the probe's certificate grab (certificate-grab.ts) reports a server that failed the handshake. */

/** The server did not complete a handshake the grab can read (the message says what it did). */
export class GrabFailure extends Error {}

/** Alert descriptions (RFC 8446 §6), for messages. */
const ALERTS: Readonly<Record<number, string>> = {
  0: 'close_notify',
  10: 'unexpected_message',
  20: 'bad_record_mac',
  22: 'record_overflow',
  40: 'handshake_failure',
  42: 'bad_certificate',
  43: 'unsupported_certificate',
  46: 'certificate_unknown',
  47: 'illegal_parameter',
  48: 'unknown_ca',
  49: 'access_denied',
  50: 'decode_error',
  51: 'decrypt_error',
  70: 'protocol_version',
  71: 'insufficient_security',
  80: 'internal_error',
  86: 'inappropriate_fallback',
  90: 'user_canceled',
  109: 'missing_extension',
  110: 'unsupported_extension',
  112: 'unrecognized_name',
  116: 'certificate_required',
  120: 'no_application_protocol',
};

/** A fatal alert from the server, as a failure naming it. */
export function alertFailure(description: number): GrabFailure {
  return new GrabFailure(`the server sent alert ${ALERTS[description] ?? 'unknown'} (${description})`);
}

export function fail(message: string): never {
  throw new GrabFailure(message);
}

export function check(ok: boolean, message: string): asserts ok {
  if (!ok) fail(message);
}
