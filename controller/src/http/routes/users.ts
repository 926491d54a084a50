import { z } from 'zod';
import {
  changeRole,
  changeRoleInputSchema,
  createUser,
  createUserInputSchema,
  deleteUser,
  listUsers,
  resetPassword,
  usernameSchema,
} from '../../services/users-service';
import { actorOf, type RouteModule } from './types';

const userParams = z.object({ username: usernameSchema }).strict();

/** SPEC U1: user management, admin only. Generated passwords are in the response once and never stored in clear. */
export const userRoutes: RouteModule = (add, { ctx }) => {
  add({
    method: 'GET',
    url: '/api/v1/users',
    summary: 'Console/API users with role and whether a password change is pending (never password hashes) — SPEC U1',
    tags: ['users'],
    permission: 'users:manage',
    handler: async () => listUsers(ctx.db.em()),
  });
  add({
    method: 'POST',
    url: '/api/v1/users',
    summary: 'Create a user; the generated password is returned once and must be changed at first login — SPEC U1',
    tags: ['users'],
    permission: 'users:manage',
    body: createUserInputSchema,
    responseStatus: 201,
    handler: async ({ body, user }) => createUser(ctx, body, actorOf(user)),
  });
  add({
    method: 'PATCH',
    url: '/api/v1/users/:username',
    summary: "Change a user's role (audited as user.role_changed; the last admin cannot be demoted) — SPEC U1",
    tags: ['users'],
    permission: 'users:manage',
    params: userParams,
    body: changeRoleInputSchema,
    handler: async ({ params, body, user }) => changeRole(ctx, params.username, body, actorOf(user)),
  });
  add({
    method: 'POST',
    url: '/api/v1/users/:username/reset-password',
    summary: 'Reset a password to a generated one (returned once; change required; ends its sessions) — SPEC U1',
    tags: ['users'],
    permission: 'users:manage',
    params: userParams,
    handler: async ({ params, user }) => resetPassword(ctx, params.username, actorOf(user)),
  });
  add({
    method: 'DELETE',
    url: '/api/v1/users/:username',
    summary: 'Delete a user and end its sessions (not the last admin, not yourself) — SPEC U1',
    tags: ['users'],
    permission: 'users:manage',
    params: userParams,
    handler: async ({ params, user }) => {
      await deleteUser(ctx, params.username, actorOf(user), user?.username ?? null);
      return undefined;
    },
  });
};
