/**
 * The browser session cookie (SPEC U1): `__Host-certfleet-session`, Secure, HttpOnly, SameSite=Strict, Path=/, no
 * Domain (the `__Host-` prefix makes browsers enforce all of that). Its value is the same kind of opaque session
 * token a bearer client gets; only its SHA-256 is stored server-side (api_sessions).
 */

export const SESSION_COOKIE = '__Host-certfleet-session';

const ATTRIBUTES = 'Path=/; Secure; HttpOnly; SameSite=Strict';

/** The `Set-Cookie` value that starts a browser session. */
export function sessionCookie(token: string): string {
  return `${SESSION_COOKIE}=${token}; ${ATTRIBUTES}`;
}

/** The `Set-Cookie` value that removes the session cookie. */
export function clearedSessionCookie(): string {
  return `${SESSION_COOKIE}=; ${ATTRIBUTES}; Max-Age=0`;
}

/**
 * The session token from a `Cookie` header, or null. Only our one cookie is read; a malformed or repeated value
 * gives null (a browser sends one `__Host-` cookie per name, so two values mean an injection attempt).
 */
export function readSessionCookie(header: string | undefined): string | null {
  if (!header) return null;
  const values: string[] = [];
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === SESSION_COOKIE) values.push(part.slice(eq + 1).trim());
  }
  if (values.length !== 1) return null;
  const v = values[0] as string;
  return /^[A-Za-z0-9_-]{20,200}$/.test(v) ? v : null;
}
