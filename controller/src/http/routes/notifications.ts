import { z } from 'zod';
import {
  getSmtpSettings,
  listSentMail,
  saveSmtpSettings,
  sendMail,
  sentMailListQuerySchema,
  smtpSettingsInputSchema,
} from '../../notifications';
import { actorOf, type RouteModule } from './types';

const testMailBody = z
  .object({ to: z.email().max(320).optional().describe('recipient; defaults to the administrator (adminEmail)') })
  .strict();

/** SPEC N1 (SMTP settings, test e-mail) and N3 (sent-mail log). */
export const notificationRoutes: RouteModule = (add, { ctx }) => {
  add({
    method: 'GET',
    url: '/api/v1/settings/smtp',
    summary: 'SMTP settings without the password (hasPassword instead); { configured: false } when unset — SPEC N1',
    tags: ['settings'],
    permission: 'settings:manage',
    handler: async () => {
      const settings = await getSmtpSettings(ctx.db.em(), ctx);
      return settings ? { configured: true, ...settings } : { configured: false };
    },
  });
  add({
    method: 'PUT',
    url: '/api/v1/settings/smtp',
    summary: 'Replace the SMTP settings; the password is write-only (omitted keeps it, null removes it) — SPEC N1',
    tags: ['settings'],
    permission: 'settings:manage',
    body: smtpSettingsInputSchema,
    handler: async ({ raw, user }) => ({
      configured: true,
      ...(await saveSmtpSettings(ctx, raw.body, actorOf(user))),
    }),
  });
  add({
    method: 'POST',
    url: '/api/v1/settings/smtp/test',
    summary:
      'Send a test e-mail (to the administrator unless `to` is given); returns the sent-mail record, or ' +
      'CF_SMTP_NOT_CONFIGURED / CF_SMTP_FAILED (the failed attempt is in the log) — SPEC N1',
    tags: ['settings'],
    permission: 'settings:manage',
    body: testMailBody,
    handler: async ({ body, user }) =>
      sendMail(ctx, {
        template: 'test-mail',
        ...(body.to ? { to: body.to } : {}),
        data: { requestedBy: actorOf(user), at: ctx.clock.now() },
      }),
  });
  add({
    method: 'GET',
    url: '/api/v1/sent-mail',
    summary: 'Sent-mail log, newest first (every attempt, sent or failed) — SPEC N3, R8',
    tags: ['histories'],
    permission: 'repository:read',
    query: sentMailListQuerySchema,
    handler: async ({ query }) => listSentMail(ctx.db.em(), query),
  });
};
