/**
 * CSRF protection for cookie sessions (SPEC U1, OWASP ASVS V3.5).
 *
 * - Every state-changing request (anything but GET/HEAD/OPTIONS) authenticated by the session cookie must carry
 *   `x-csrf-token` equal to the session's CSRF token. The token is HMAC-SHA256(session id) under a key derived
 *   (HKDF) from the master key: nothing extra is stored, every controller process of the repository computes the
 *   same value, and it changes with every session (a new session id at every login).
 * - State-changing requests that are not bearer-authenticated (cookie or anonymous, including login) are refused
 *   when they come from another site: an `Origin` other than the controller's own (`https://` + Host) or
 *   `Sec-Fetch-Site: cross-site`.
 * - Bearer-token requests are exempt: a browser never attaches an Authorization header by itself.
 * Refusals are CF_CSRF (403).
 */
import crypto from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { CertFleetError } from '@certfleet/shared';
import type { ServiceContext } from '../../services/context';

export const CSRF_HEADER = 'x-csrf-token';
/** Routes where a cookie session needs no CSRF token (the origin checks still apply): login starts a new session. */
const TOKEN_EXEMPT_ROUTES = new Set(['/api/v1/auth/login']);
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

const keys = new WeakMap<ServiceContext, Buffer>();

function csrfKey(ctx: ServiceContext): Buffer {
  let k = keys.get(ctx);
  if (!k) {
    k = Buffer.from(crypto.hkdfSync('sha256', ctx.masterKey.key, Buffer.alloc(0), 'certfleet csrf v1', 32));
    keys.set(ctx, k);
  }
  return k;
}

/** The CSRF token of a session (what `/auth/login` and `/auth/me` return to a cookie session). */
export function csrfTokenFor(ctx: ServiceContext, sessionId: string): string {
  return crypto.createHmac('sha256', csrfKey(ctx)).update(sessionId).digest('base64url');
}

export function isStateChanging(method: string): boolean {
  return !SAFE_METHODS.has(method.toUpperCase());
}

/** The controller's own origin as the client addressed it (`https://` + Host), or null without a usable Host. */
function ownOrigin(host: string | undefined): string | null {
  if (!host) return null;
  try {
    return new URL(`https://${host}`).origin;
  } catch {
    return null;
  }
}

function sameOrigin(origin: string, host: string | undefined): boolean {
  const own = ownOrigin(host);
  if (!own) return false;
  try {
    return new URL(origin).origin === own;
  } catch {
    return false; // "null" and other opaque origins
  }
}

function refuse(message: string): CertFleetError {
  return new CertFleetError('CF_CSRF', `csrf: ${message}`);
}

/** Throws CF_CSRF when a state-changing request fails the rules above. Call after authentication. */
export function enforceCsrf(ctx: ServiceContext, req: FastifyRequest): void {
  if (!isStateChanging(req.method) || req.authVia === 'bearer') return;
  const origin = req.headers.origin;
  if (origin !== undefined && !sameOrigin(origin, req.headers.host)) {
    throw refuse('cross-origin request refused (the Origin header is not this controller)');
  }
  if (req.headers['sec-fetch-site'] === 'cross-site') throw refuse('cross-site request refused (Sec-Fetch-Site)');
  if (req.authVia !== 'cookie' || !req.user) return;
  if (TOKEN_EXEMPT_ROUTES.has(req.routeOptions.url ?? '')) return;
  const sent = req.headers[CSRF_HEADER];
  const expected = Buffer.from(csrfTokenFor(ctx, req.user.sessionId));
  const got = Buffer.from(typeof sent === 'string' ? sent : '');
  if (got.length !== expected.length || !crypto.timingSafeEqual(got, expected)) {
    throw refuse(`missing or wrong ${CSRF_HEADER} header (GET /api/v1/auth/me returns the token)`);
  }
}
