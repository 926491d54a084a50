import pino, { type Logger } from 'pino';

/** Paths pino removes from every log line: credentials, tokens, keys and passphrases never reach the logs. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  'password',
  'passphrase',
  'token',
  'privateKey',
  'privateKeyPem',
  '*.password',
  '*.passphrase',
  '*.token',
  '*.privateKey',
  '*.privateKeyPem',
  'adminUrl',
  'databaseUrl',
];

/** The controller's structured JSON logger (pino) with secret redaction. */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    { level, base: { service: 'certfleet-controller' }, redact: { paths: REDACT_PATHS, censor: '[redacted]' } },
    destination
  );
}

/** Removes the password from a PostgreSQL URL for display. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '[unparseable url]';
  }
}
