/**
 * Who is calling: a bearer token (`Authorization: Bearer …`, CLI and API clients) or the browser session cookie.
 * When an Authorization header is present the cookie is ignored, so one request never mixes the two. Sessions
 * are server-side with idle and absolute timeouts (services/auth-service.ts).
 */
import type { FastifyRequest } from 'fastify';
import { authenticate } from '../../services/auth-service';
import type { ServiceContext } from '../../services/context';
import { readSessionCookie } from './cookie-session';

declare module 'fastify' {
  interface FastifyRequest {
    /** How `user` was authenticated (absent for anonymous requests). */
    authVia?: 'bearer' | 'cookie';
  }
}

/** Sets `req.user` and `req.authVia` when the request carries a valid session; otherwise leaves it anonymous. */
export async function authenticateRequest(ctx: ServiceContext, req: FastifyRequest): Promise<void> {
  req.user = undefined;
  req.authVia = undefined;
  const auth = req.headers.authorization;
  if (auth !== undefined) {
    if (!auth.startsWith('Bearer ')) return;
    try {
      req.user = await authenticate(ctx, auth.slice(7).trim());
      req.authVia = 'bearer';
    } catch {
      // routes that need a user answer CF_UNAUTHORIZED
    }
    return;
  }
  const token = readSessionCookie(req.headers.cookie);
  if (!token) return;
  try {
    req.user = await authenticate(ctx, token);
    req.authVia = 'cookie';
  } catch {
    // expired or unknown cookie: anonymous
  }
}
