import { z } from 'zod';
import type { RouteModule } from './types';
import { changePassword, login, logout } from '../../services/auth-service';

export const authRoutes: RouteModule = (add, { ctx }) => {
  add({
    method: 'POST',
    url: '/api/v1/auth/login',
    summary: 'Log in; returns a bearer token',
    tags: ['auth'],
    permission: 'public',
    body: z.object({ username: z.string().min(1).max(100), password: z.string().min(1).max(1024) }).strict(),
    response: z.object({
      token: z.string(),
      user: z.object({ username: z.string(), role: z.string(), mustChangePassword: z.boolean() }),
    }),
    handler: async ({ body, raw }) => {
      const { token, user } = await login(ctx, body.username, body.password, raw.ip);
      return { token, user: { username: user.username, role: user.role, mustChangePassword: user.mustChangePassword } };
    },
  });
  add({
    method: 'GET',
    url: '/api/v1/auth/me',
    summary: 'The logged-in user',
    tags: ['auth'],
    permission: 'authenticated',
    allowWithPendingPasswordChange: true,
    handler: async ({ user }) => ({
      username: user?.username,
      role: user?.role,
      mustChangePassword: user?.mustChangePassword,
    }),
  });
  add({
    method: 'POST',
    url: '/api/v1/auth/password',
    summary: 'Change the password (ends every session of the user)',
    tags: ['auth'],
    permission: 'authenticated',
    allowWithPendingPasswordChange: true,
    body: z
      .object({ currentPassword: z.string().min(1).max(1024), newPassword: z.string().min(12).max(1024) })
      .strict(),
    handler: async ({ body, user }) => {
      await changePassword(ctx, user!.id, body.currentPassword, body.newPassword);
      return undefined;
    },
  });
  add({
    method: 'POST',
    url: '/api/v1/auth/logout',
    summary: 'End this session',
    tags: ['auth'],
    permission: 'authenticated',
    allowWithPendingPasswordChange: true,
    handler: async ({ user }) => {
      await logout(ctx, user!.sessionId);
      return undefined;
    },
  });
};
