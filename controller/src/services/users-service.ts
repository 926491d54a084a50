/**
 * Console/API user management (SPEC U1, admin only): list, create with a generated password, change role, reset
 * the password, delete. Generated passwords are returned once and must be changed at the next login; only their
 * scrypt hash is stored. There is always at least one admin: the last one cannot be demoted or deleted. Every
 * change is audited (`user.created`, `user.role_changed`, `user.password_reset`, `user.deleted`) and a password
 * reset or deletion ends the user's sessions.
 */
import crypto from 'node:crypto';
import { z } from 'zod';
import { CertFleetError } from '@certfleet/shared';
import { roles, type Role, type User } from '../domain/user';
import { generatePassword, hashPassword } from '../secrets/password-hash';
import type { Em } from '../storage/database';
import { ApiSessionEntity, UserEntity } from '../storage/entities';
import { appendAudit } from './audit-service';
import type { Actor, ServiceContext } from './context';
import { parseInput } from './definition-service';

export const usernameSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._@-]*$/, 'letters, digits and . _ @ - (starting with a letter or digit)')
  .describe('login name; also the CN of the user’s client certificates');

export const createUserInputSchema = z.object({ username: usernameSchema, role: z.enum(roles) }).strict();
export const changeRoleInputSchema = z.object({ role: z.enum(roles) }).strict();

/** The API view of a user: never the password hash. */
export interface UserView {
  username: string;
  role: Role;
  mustChangePassword: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export function userView(u: User): UserView {
  return {
    username: u.username,
    role: u.role,
    mustChangePassword: u.mustChangePassword,
    createdAt: u.createdAt,
    updatedAt: u.updatedAt,
  };
}

/** Serialises user changes, so two admins demoting each other at once cannot leave no admin. */
async function lockUsers(em: Em): Promise<void> {
  await em
    .getConnection()
    .execute(`select pg_advisory_xact_lock(hashtext('certfleet.users'))`, [], 'all', em.getTransactionContext());
}

async function findUser(em: Em, username: string): Promise<User> {
  const u = await em.findOne(UserEntity, { username });
  if (!u) throw new CertFleetError('CF_NOT_FOUND', `users: user ${username} not found`);
  return u;
}

async function refuseLastAdmin(em: Em, user: User, what: string): Promise<void> {
  if (user.role !== 'admin') return;
  if ((await em.count(UserEntity, { role: 'admin' })) <= 1) {
    throw new CertFleetError('CF_CONFLICT', `users: cannot ${what} ${user.username}: it is the last admin`);
  }
}

export async function listUsers(em: Em): Promise<{ items: UserView[] }> {
  const rows = await em.find(UserEntity, {}, { orderBy: { username: 'asc' } });
  return { items: rows.map(userView) };
}

/** Creates a user with a generated password (returned once; `mustChangePassword` is set). CF_CONFLICT if taken. */
export async function createUser(
  ctx: ServiceContext,
  raw: unknown,
  actor: Actor
): Promise<{ user: UserView; password: string }> {
  const input = parseInput(createUserInputSchema, raw, 'users');
  const password = generatePassword();
  const passwordHash = await hashPassword(password);
  const user = await ctx.db.em().transactional(async (em) => {
    await lockUsers(em);
    const now = ctx.clock.now();
    // Names differing only in case would be confusing (and share one login-throttle counter): refuse them too.
    const taken = await em
      .getConnection()
      .execute<Array<{ username: string }>>(
        'select username from users where lower(username) = lower(?)',
        [input.username],
        'all',
        em.getTransactionContext()
      );
    if (taken.length) {
      throw new CertFleetError('CF_CONFLICT', `users: user ${taken[0]!.username} already exists`);
    }
    const u = em.create(UserEntity, {
      id: crypto.randomUUID(),
      username: input.username,
      passwordHash,
      role: input.role,
      mustChangePassword: true,
      createdAt: now,
      updatedAt: now,
    });
    em.persist(u);
    await appendAudit(
      em,
      { actor, action: 'user.created', targetType: 'user', targetId: u.username, details: { role: u.role } },
      now
    );
    return u;
  });
  return { user: userView(user), password };
}

/** Changes a user's role (takes effect on the user's next request). The last admin cannot be demoted. */
export async function changeRole(ctx: ServiceContext, username: string, raw: unknown, actor: Actor): Promise<UserView> {
  const input = parseInput(changeRoleInputSchema, raw, 'users');
  return ctx.db.em().transactional(async (em) => {
    await lockUsers(em);
    const now = ctx.clock.now();
    const user = await findUser(em, username);
    if (user.role === input.role) return userView(user);
    if (input.role !== 'admin') await refuseLastAdmin(em, user, 'demote');
    const from = user.role;
    user.role = input.role;
    user.updatedAt = now;
    await appendAudit(
      em,
      {
        actor,
        action: 'user.role_changed',
        targetType: 'user',
        targetId: user.username,
        details: { from, to: input.role },
      },
      now
    );
    return userView(user);
  });
}

/** Sets a new generated password (returned once), requires a change at next login, ends the user's sessions. */
export async function resetPassword(
  ctx: ServiceContext,
  username: string,
  actor: Actor
): Promise<{ user: UserView; password: string }> {
  const password = generatePassword();
  const passwordHash = await hashPassword(password);
  const user = await ctx.db.em().transactional(async (em) => {
    const now = ctx.clock.now();
    const u = await findUser(em, username);
    u.passwordHash = passwordHash;
    u.mustChangePassword = true;
    u.updatedAt = now;
    const ended = await em.nativeDelete(ApiSessionEntity, { userId: u.id });
    await appendAudit(
      em,
      {
        actor,
        action: 'user.password_reset',
        targetType: 'user',
        targetId: u.username,
        details: { sessionsEnded: ended },
      },
      now
    );
    return u;
  });
  return { user: userView(user), password };
}

/**
 * Deletes a user and its sessions. Refused for the last admin and for the caller's own account (an admin removes
 * another admin, never themselves by accident).
 */
export async function deleteUser(
  ctx: ServiceContext,
  username: string,
  actor: Actor,
  callerUsername: string | null
): Promise<void> {
  if (callerUsername !== null && callerUsername === username) {
    throw new CertFleetError('CF_CONFLICT', `users: you cannot delete your own account (${username})`);
  }
  await ctx.db.em().transactional(async (em) => {
    await lockUsers(em);
    const now = ctx.clock.now();
    const user = await findUser(em, username);
    await refuseLastAdmin(em, user, 'delete');
    const ended = await em.nativeDelete(ApiSessionEntity, { userId: user.id });
    await em.nativeDelete(UserEntity, { id: user.id });
    await appendAudit(
      em,
      {
        actor,
        action: 'user.deleted',
        targetType: 'user',
        targetId: user.username,
        details: { role: user.role, sessionsEnded: ended },
      },
      now
    );
  });
}
