import https from 'node:https';
import type { TestController } from './controller';

/** One HTTPS request to a test controller with the knobs access-control tests need. */
export interface CallOptions {
  body?: unknown;
  token?: string;
  /** Session token sent as the `__Host-certfleet-session` cookie. */
  cookie?: string;
  csrfToken?: string;
  headers?: Record<string, string>;
  /** Source address of the connection (any 127.x.y.z works on Linux loopback). */
  localAddress?: string;
  /** Client certificate (PKCS#12) for the TLS handshake. */
  pfx?: Buffer;
  passphrase?: string;
}

export interface CallResult {
  status: number;
  json: unknown;
  headers: Record<string, string | string[] | undefined>;
  /** Values of `Set-Cookie`. */
  setCookie: string[];
  /** The raw response body (binary downloads). */
  raw: Buffer;
}

export const COOKIE_NAME = '__Host-certfleet-session';

/** HTTPS request on a fresh connection (no keep-alive: every call does its own TLS handshake and source address). */
export function call(tc: TestController, method: string, path: string, o: CallOptions = {}): Promise<CallResult> {
  return new Promise((resolve, reject) => {
    const data = o.body === undefined ? undefined : Buffer.from(JSON.stringify(o.body));
    const req = https.request(
      `${tc.controller.url}${path}`,
      {
        method,
        ca: tc.controller.caCertificatePem,
        servername: 'localhost',
        agent: false,
        timeout: 30_000,
        ...(o.localAddress ? { localAddress: o.localAddress } : {}),
        ...(o.pfx ? { pfx: o.pfx, passphrase: o.passphrase } : {}),
        headers: {
          ...(data ? { 'content-type': 'application/json', 'content-length': String(data.length) } : {}),
          ...(o.token ? { authorization: `Bearer ${o.token}` } : {}),
          ...(o.cookie ? { cookie: `${COOKIE_NAME}=${o.cookie}` } : {}),
          ...(o.csrfToken ? { 'x-csrf-token': o.csrfToken } : {}),
          ...(o.headers ?? {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const raw = Buffer.concat(chunks);
          const text = raw.toString();
          let json: unknown = text;
          try {
            json = text ? JSON.parse(text) : null;
          } catch {
            /* not JSON */
          }
          const sc = res.headers['set-cookie'];
          resolve({ status: res.statusCode ?? 0, json, headers: res.headers, setCookie: sc ?? [], raw });
        });
      }
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out`)));
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

/** The error code of a `{ error: { code } }` answer (undefined otherwise). */
export function codeOf(r: CallResult): string | undefined {
  return (r.json as { error?: { code?: string } } | null)?.error?.code;
}

/** The session token set by a cookie login's `Set-Cookie` (throws when absent). */
export function sessionFromSetCookie(r: CallResult): string {
  for (const c of r.setCookie) {
    const m = new RegExp(`^${COOKIE_NAME}=([^;]+);`).exec(c);
    if (m) return m[1]!;
  }
  throw new Error(`no ${COOKIE_NAME} in Set-Cookie: ${JSON.stringify(r.setCookie)}`);
}

/** Cookie login: returns the session token from the cookie and the CSRF token from the body. */
export async function cookieLogin(
  tc: TestController,
  username: string,
  password: string,
  o: CallOptions = {}
): Promise<{ session: string; csrfToken: string; result: CallResult }> {
  const r = await call(tc, 'POST', '/api/v1/auth/login', { ...o, body: { username, password, cookie: true } });
  if (r.status !== 200) throw new Error(`cookie login of ${username} failed: ${r.status} ${JSON.stringify(r.json)}`);
  return { session: sessionFromSetCookie(r), csrfToken: (r.json as { csrfToken: string }).csrfToken, result: r };
}

/**
 * Creates a user through the admin API, changes its generated password to `password` and returns a bearer token
 * of the ready-to-use account.
 */
export async function createUser(
  tc: TestController,
  adminToken: string,
  username: string,
  role: 'admin' | 'user',
  password: string,
  o: CallOptions = {}
): Promise<string> {
  const created = await call(tc, 'POST', '/api/v1/users', { ...o, token: adminToken, body: { username, role } });
  if (created.status !== 201) throw new Error(`create ${username}: ${created.status} ${JSON.stringify(created.json)}`);
  const generated = (created.json as { password: string }).password;
  const first = await call(tc, 'POST', '/api/v1/auth/login', { ...o, body: { username, password: generated } });
  const t1 = (first.json as { token: string }).token;
  const changed = await call(tc, 'POST', '/api/v1/auth/password', {
    ...o,
    token: t1,
    body: { currentPassword: generated, newPassword: password },
  });
  if (changed.status !== 204) throw new Error(`password change of ${username}: ${changed.status}`);
  const second = await call(tc, 'POST', '/api/v1/auth/login', { ...o, body: { username, password } });
  return (second.json as { token: string }).token;
}
