import crypto from 'node:crypto';
import { CertFleetError } from '@certfleet/shared';
import type { Role, User } from '../domain/user';
import { generatePassword, hashPassword, verifyPassword } from '../secrets/password-hash';
import type { Em } from '../storage/database';
import { ApiSessionEntity, UserEntity } from '../storage/entities';
import { appendAudit } from './audit-service';
import type { ServiceContext } from './context';

/** API session lifetime (absolute) and idle timeout. */
export const SESSION_ABSOLUTE_MS = 12 * 3600_000;
export const SESSION_IDLE_MS = 30 * 60_000;
const MIN_PASSWORD_LENGTH = 12;

const sha256 = (s: string): string => crypto.createHash('sha256').update(s).digest('hex');

export interface SessionUser {
  id: string;
  username: string;
  role: Role;
  mustChangePassword: boolean;
  sessionId: string;
}

/** Creates the initial `admin` account with a generated password (returned once, never stored in clear). */
export async function createInitialAdmin(em: Em, now: Date): Promise<{ username: string; password: string } | null> {
  if ((await em.count(UserEntity, {})) > 0) return null;
  const password = generatePassword();
  em.persist(
    em.create(UserEntity, {
      id: crypto.randomUUID(),
      username: 'admin',
      passwordHash: await hashPassword(password),
      role: 'admin',
      mustChangePassword: true,
      createdAt: now,
      updatedAt: now,
    })
  );
  await appendAudit(
    em,
    { actor: 'system', action: 'user.created', targetType: 'user', targetId: 'admin', details: { role: 'admin' } },
    now
  );
  return { username: 'admin', password };
}

/** Checks a user's password; the same error for unknown user and wrong password (no account enumeration). */
export async function checkCredentials(em: Em, username: string, password: string): Promise<User> {
  const user = await em.findOne(UserEntity, { username });
  // Hash even for unknown users so timing does not reveal which names exist.
  const ok = await verifyPassword(
    password,
    user?.passwordHash ?? 'scrypt$32768$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'
  );
  if (!user || !ok) throw new CertFleetError('CF_UNAUTHORIZED', 'auth: invalid user name or password');
  return user;
}

/** Why a login was refused, for the audit log (never the password). */
export type LoginFailureReason = 'password' | 'client-certificate' | 'rate-limited';

/** Audits a refused login in its own transaction (`auth.login_failed`, `details.reason`). */
export async function auditLoginFailure(
  ctx: ServiceContext,
  username: string,
  remote: string,
  reason: LoginFailureReason,
  extra: Record<string, unknown> = {}
): Promise<void> {
  const now = ctx.clock.now();
  await ctx.db.em().transactional((aem) =>
    appendAudit(
      aem,
      {
        actor: `anonymous@${remote}`,
        action: 'auth.login_failed',
        targetType: 'user',
        targetId: username.slice(0, 100),
        details: { reason, ...extra },
      },
      now
    )
  );
}

/** Audits that repeated failures blocked an (account, address) pair (`auth.login_throttled`). */
export async function auditLoginThrottled(
  ctx: ServiceContext,
  username: string,
  remote: string,
  blockedForSeconds: number
): Promise<void> {
  await ctx.db.em().transactional((aem) =>
    appendAudit(
      aem,
      {
        actor: `anonymous@${remote}`,
        action: 'auth.login_throttled',
        targetType: 'user',
        targetId: username.slice(0, 100),
        details: { remote, blockedForSeconds },
      },
      ctx.clock.now()
    )
  );
}

export interface LoginOptions {
  /** How the session will be carried: a bearer token (CLI/API) or the browser cookie. Audited. @default 'bearer' */
  via?: 'bearer' | 'cookie';
  /** The session token the request already carried (cookie): that session is deleted (rotation at login). */
  replacesToken?: string | null;
}

/**
 * Logs in: returns a new session token (only its hash is stored; a new session at every login). Failures are
 * audited without the password.
 */
export async function login(
  ctx: ServiceContext,
  username: string,
  password: string,
  remote: string,
  options: LoginOptions = {}
): Promise<{ token: string; user: SessionUser }> {
  // The password check (scrypt) runs outside any transaction: holding a pooled connection during it, and needing a
  // second one to audit a failure, would let a burst of concurrent wrong passwords exhaust the pool.
  let checked: User;
  try {
    checked = await checkCredentials(ctx.db.em(), username, password);
  } catch (err) {
    await auditLoginFailure(ctx, username, remote, 'password');
    throw err;
  }
  return ctx.db.em().transactional(async (tem) => {
    const now = ctx.clock.now();
    const user = await tem.findOne(UserEntity, { id: checked.id });
    // Changed or deleted meanwhile: the checked password may no longer be the user's.
    if (!user || user.passwordHash !== checked.passwordHash) {
      throw new CertFleetError('CF_UNAUTHORIZED', 'auth: invalid user name or password');
    }
    const rotated = options.replacesToken
      ? await tem.nativeDelete(ApiSessionEntity, { tokenSha256: sha256(options.replacesToken) })
      : 0;
    const token = crypto.randomBytes(32).toString('base64url');
    const session = tem.create(ApiSessionEntity, {
      id: crypto.randomUUID(),
      userId: user.id,
      tokenSha256: sha256(token),
      createdAt: now,
      expiresAt: new Date(now.getTime() + SESSION_ABSOLUTE_MS),
      lastSeenAt: now,
    });
    tem.persist(session);
    await appendAudit(
      tem,
      {
        actor: `user:${user.username}`,
        action: 'auth.login',
        targetType: 'user',
        targetId: user.username,
        details: { remote, via: options.via ?? 'bearer', ...(rotated ? { replacedSession: true } : {}) },
      },
      now
    );
    return {
      token,
      user: {
        id: user.id,
        username: user.username,
        role: user.role,
        mustChangePassword: user.mustChangePassword,
        sessionId: session.id,
      },
    };
  });
}

/** Resolves a bearer token to its user, enforcing absolute and idle timeouts. */
export async function authenticate(ctx: ServiceContext, token: string): Promise<SessionUser> {
  const em = ctx.db.em();
  const now = ctx.clock.now();
  const session = await em.findOne(ApiSessionEntity, { tokenSha256: sha256(token) });
  if (!session || session.expiresAt <= now || now.getTime() - session.lastSeenAt.getTime() > SESSION_IDLE_MS) {
    if (session) await em.nativeDelete(ApiSessionEntity, { id: session.id });
    throw new CertFleetError('CF_UNAUTHORIZED', 'auth: session missing or expired');
  }
  const user = await em.findOneOrFail(UserEntity, { id: session.userId });
  if (now.getTime() - session.lastSeenAt.getTime() > 60_000) {
    session.lastSeenAt = now;
    await em.flush();
  }
  return {
    id: user.id,
    username: user.username,
    role: user.role,
    mustChangePassword: user.mustChangePassword,
    sessionId: session.id,
  };
}

/** Ends one session (audited as `auth.logout`). */
export async function logout(ctx: ServiceContext, user: SessionUser, remote: string): Promise<void> {
  await ctx.db.em().transactional(async (em) => {
    await em.nativeDelete(ApiSessionEntity, { id: user.sessionId });
    await appendAudit(
      em,
      {
        actor: `user:${user.username}`,
        action: 'auth.logout',
        targetType: 'user',
        targetId: user.username,
        details: { remote },
      },
      ctx.clock.now()
    );
  });
}

/** Changes a password after checking the current one; every session of the user ends (a new login is needed). */
export async function changePassword(
  ctx: ServiceContext,
  userId: string,
  current: string,
  next: string
): Promise<void> {
  if (next.length < MIN_PASSWORD_LENGTH) {
    throw new CertFleetError(
      'CF_VALIDATION',
      `auth: the new password must have at least ${MIN_PASSWORD_LENGTH} characters`
    );
  }
  if (next === current)
    throw new CertFleetError('CF_VALIDATION', 'auth: the new password must differ from the current one');
  await ctx.db.em().transactional(async (em) => {
    const now = ctx.clock.now();
    const user = await em.findOneOrFail(UserEntity, { id: userId });
    if (!(await verifyPassword(current, user.passwordHash)))
      throw new CertFleetError('CF_UNAUTHORIZED', 'auth: current password is wrong');
    user.passwordHash = await hashPassword(next);
    user.mustChangePassword = false;
    user.updatedAt = now;
    await em.nativeDelete(ApiSessionEntity, { userId });
    await appendAudit(
      em,
      { actor: `user:${user.username}`, action: 'auth.password_changed', targetType: 'user', targetId: user.username },
      now
    );
  });
}
