import { z } from 'zod';
import { isCertFleetError } from '@certfleet/shared';
import { auditLoginFailure, auditLoginThrottled, changePassword, login, logout } from '../../services/auth-service';
import { requireClientCertificate } from '../access/client-cert';
import { clearedSessionCookie, readSessionCookie, sessionCookie } from '../access/cookie-session';
import { csrfTokenFor } from '../access/csrf';
import { loginThrottle } from '../access/login-throttle';
import type { RouteModule } from './types';

const userShape = z.object({ username: z.string(), role: z.string(), mustChangePassword: z.boolean() });

/** SPEC U1, U4: login (bearer token or browser cookie), the current user, password change, logout. */
export const authRoutes: RouteModule = (add, { ctx }) => {
  add({
    method: 'POST',
    url: '/api/v1/auth/login',
    summary:
      'Log in; returns a bearer token, or with `cookie: true` sets the __Host- session cookie and returns the CSRF ' +
      'token instead. Throttled (CF_RATE_LIMITED + retry-after); may require a client certificate — SPEC U1, U4',
    tags: ['auth'],
    permission: 'public',
    body: z
      .object({
        username: z.string().min(1).max(100),
        password: z.string().min(1).max(1024),
        cookie: z.boolean().optional().describe('browser login: session in an HttpOnly cookie, no token in the body'),
      })
      .strict(),
    response: z.object({
      token: z.string().optional().describe('bearer token (not for cookie logins)'),
      csrfToken: z.string().optional().describe('cookie logins: send it as x-csrf-token on state-changing requests'),
      user: userShape,
    }),
    handler: async ({ body, raw }, reply) => {
      const remote = raw.ip;
      const throttle = loginThrottle(ctx);
      try {
        await throttle.beforeAttempt(body.username, remote);
      } catch (err) {
        const seconds = isCertFleetError(err) ? err.details?.retryAfterSeconds : undefined;
        if (typeof seconds === 'number') void reply.header('retry-after', String(seconds));
        throw err;
      }
      const carried = readSessionCookie(raw.headers.cookie);
      let result: Awaited<ReturnType<typeof login>>;
      try {
        try {
          await requireClientCertificate(ctx, raw);
        } catch (err) {
          const reason = isCertFleetError(err) ? err.details?.reason : undefined;
          await auditLoginFailure(ctx, body.username, remote, 'client-certificate', { certificate: reason });
          throw err;
        }
        result = await login(ctx, body.username, body.password, remote, {
          via: body.cookie ? 'cookie' : 'bearer',
          replacesToken: carried,
        });
      } catch (err) {
        if (isCertFleetError(err) && (err.code === 'CF_UNAUTHORIZED' || err.code === 'CF_CLIENT_CERT_REQUIRED')) {
          const blockedMs = await throttle.onFailure(body.username, remote);
          if (blockedMs > 0) await auditLoginThrottled(ctx, body.username, remote, Math.ceil(blockedMs / 1000));
        }
        throw err;
      }
      await throttle.onSuccess(body.username, remote);
      const { token, user } = result;
      const view = { username: user.username, role: user.role, mustChangePassword: user.mustChangePassword };
      if (body.cookie) {
        void reply.header('set-cookie', sessionCookie(token));
        return { csrfToken: csrfTokenFor(ctx, user.sessionId), user: view };
      }
      // A bearer login from a browser that held a cookie session ended that session (rotation): drop the cookie.
      if (carried) void reply.header('set-cookie', clearedSessionCookie());
      return { token, user: view };
    },
  });
  add({
    method: 'GET',
    url: '/api/v1/auth/me',
    summary: 'The logged-in user; cookie sessions also get their CSRF token — SPEC U1',
    tags: ['auth'],
    permission: 'authenticated',
    allowWithPendingPasswordChange: true,
    response: userShape.extend({ csrfToken: z.string().optional() }),
    handler: async ({ user, raw }) => ({
      username: user?.username,
      role: user?.role,
      mustChangePassword: user?.mustChangePassword,
      ...(raw.authVia === 'cookie' && user ? { csrfToken: csrfTokenFor(ctx, user.sessionId) } : {}),
    }),
  });
  add({
    method: 'POST',
    url: '/api/v1/auth/password',
    summary: 'Change the password (ends every session of the user, this one included) — SPEC U1',
    tags: ['auth'],
    permission: 'authenticated',
    allowWithPendingPasswordChange: true,
    body: z
      .object({ currentPassword: z.string().min(1).max(1024), newPassword: z.string().min(12).max(1024) })
      .strict(),
    handler: async ({ body, user, raw }, reply) => {
      await changePassword(ctx, user!.id, body.currentPassword, body.newPassword);
      if (raw.authVia === 'cookie') void reply.header('set-cookie', clearedSessionCookie());
      return undefined;
    },
  });
  add({
    method: 'POST',
    url: '/api/v1/auth/logout',
    summary: 'End this session (and clear the session cookie) — SPEC U1',
    tags: ['auth'],
    permission: 'authenticated',
    allowWithPendingPasswordChange: true,
    handler: async ({ user, raw }, reply) => {
      await logout(ctx, user!, raw.ip);
      if (raw.authVia === 'cookie') void reply.header('set-cookie', clearedSessionCookie());
      return undefined;
    },
  });
};
