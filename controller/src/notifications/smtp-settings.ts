/**
 * SMTP settings (SPEC N1): where CertFleet sends its mail and who the administrator is.
 *
 * Stored as the `smtp` row of `settings` (plain JSON, no secrets) plus the write-only password, sealed under the
 * master key as the named secret `smtp.password`. The API shape never carries the password, only `hasPassword`.
 *
 * Keys: `fromAddress`, `fromName`, `host`, `port`, `security` (`none` | `starttls` | `tls`), `username`, `password`
 * (write-only), `adminEmail` (receives stalled-process mails and digests), `rejectUnauthorized` (default true),
 * `caPem` (extra trust anchors for a private mail server, added to the system roots).
 */
import crypto from 'node:crypto';
import { z } from 'zod';
import { CertFleetError } from '@certfleet/shared';
import { seal, unseal } from '../secrets/envelope';
import { SEALED_COLUMNS, sealContext } from '../secrets/sealed-columns';
import { appendAudit } from '../services/audit-service';
import type { Actor, ServiceContext } from '../services/context';
import { parseInput } from '../services/definition-service';
import type { Em } from '../storage/database';
import { SecretEntity, SettingEntity } from '../storage/entities';

/** `settings.key` of the SMTP settings row. */
export const SMTP_SETTINGS_KEY = 'smtp';
/** `secrets.id` of the sealed SMTP password. */
export const SMTP_PASSWORD_SECRET = 'smtp.password';

export const smtpSecurityModes = ['none', 'starttls', 'tls'] as const;
export type SmtpSecurity = (typeof smtpSecurityModes)[number];

const MAX_CA_PEM = 64 * 1024;
const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Every certificate in `pem`; throws when one does not parse. */
export function pemCertificates(pem: string): string[] {
  const blocks = pem.match(PEM_CERT) ?? [];
  for (const b of blocks) new crypto.X509Certificate(b);
  return blocks;
}

const caPemSchema = z
  .string()
  .max(MAX_CA_PEM)
  .superRefine((pem, c) => {
    try {
      if (!pemCertificates(pem).length) c.addIssue({ code: 'custom', message: 'no PEM CERTIFICATE block found' });
    } catch (err) {
      c.addIssue({ code: 'custom', message: `a certificate does not parse: ${(err as Error).message}` });
    }
  })
  .describe('extra trusted CA certificates (PEM) for a mail server with a private certificate');

/** Fields shared by the input and the stored row (everything except the password). */
const baseFields = {
  fromAddress: z.email().max(320).describe('the From address of every mail'),
  fromName: z.string().trim().max(200).default('CertFleet').describe('the From display name'),
  host: z
    .string()
    .trim()
    .min(1)
    .max(253)
    .regex(/^[A-Za-z0-9.\-:[\]]+$/, 'a host name or IP address')
    .describe('SMTP server host name or IP address'),
  port: z.number().int().min(1).max(65535).describe('587 for STARTTLS, 465 for implicit TLS, 25 for a relay'),
  security: z
    .enum(smtpSecurityModes)
    .describe('starttls: plain connect then STARTTLS, required; tls: implicit TLS (port 465); none: no encryption'),
  adminEmail: z.email().max(320).describe('the administrator who receives stalled-process mails and digests'),
  rejectUnauthorized: z.boolean().default(true).describe('verify the mail server certificate (default true)'),
};

/** PUT body (SPEC N1). A full replacement of the settings, except the write-only password. */
export const smtpSettingsInputSchema = z
  .object({
    ...baseFields,
    username: z.string().min(1).max(320).optional().describe('AUTH user; omit for a server without AUTH'),
    password: z
      .string()
      .max(1024)
      .nullable()
      .optional()
      .describe('write-only: omitted keeps the stored password, a string replaces it, null or "" removes it'),
    caPem: caPemSchema.optional(),
  })
  .strict()
  .superRefine((s, c) => {
    if (s.password && s.username === undefined) {
      c.addIssue({ code: 'custom', path: ['username'], message: 'a password needs a username' });
    }
    if (s.security === 'none' && s.username !== undefined) {
      c.addIssue({
        code: 'custom',
        path: ['security'],
        message: 'credentials are never sent over an unencrypted connection: use starttls or tls, or no username',
      });
    }
  });

export type SmtpSettingsInput = z.input<typeof smtpSettingsInputSchema>;

/** The stored `settings.smtp` value. `revision` grows on every save; the mailer rebuilds its transport on change. */
const storedSchema = z.object({
  ...baseFields,
  username: z.string().nullable(),
  caPem: z.string().nullable(),
  revision: z.number().int().min(1),
});
type StoredSmtpSettings = z.output<typeof storedSchema>;

/** The API view (GET): never the password. */
export interface SmtpSettings {
  fromAddress: string;
  fromName: string;
  host: string;
  port: number;
  security: SmtpSecurity;
  username: string | null;
  hasPassword: boolean;
  adminEmail: string;
  rejectUnauthorized: boolean;
  caPem: string | null;
  revision: number;
  updatedAt: Date;
}

/** What the mailer needs to connect: the settings plus the unsealed password. Never leaves the process. */
export interface SmtpConnectionSettings extends SmtpSettings {
  password: string | null;
}

const secretCtx = sealContext(SEALED_COLUMNS.namedSecret, SMTP_PASSWORD_SECRET);

function readStored(value: unknown): StoredSmtpSettings {
  const r = storedSchema.safeParse(value);
  if (!r.success) {
    throw new CertFleetError('CF_CONFIG_INVALID', 'smtp: the stored SMTP settings are unreadable; save them again', {
      details: { problems: r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`) },
    });
  }
  return r.data;
}

/**
 * The settings row and its version, or null when SMTP was never configured. Cheap (one indexed read, no
 * decryption): the mailer calls it on every send to notice changes made by this or another replica.
 */
export async function readSmtpSettingsVersion(
  em: Em
): Promise<{ settings: StoredSmtpSettings; updatedAt: Date; version: string } | null> {
  const row = await em.findOne(SettingEntity, { key: SMTP_SETTINGS_KEY });
  if (!row) return null;
  const settings = readStored(row.value);
  return { settings, updatedAt: row.updatedAt, version: `${settings.revision}@${row.updatedAt.toISOString()}` };
}

/** SPEC N1 GET: the settings without the password (`hasPassword` instead), or null when not configured. */
export async function getSmtpSettings(em: Em, _ctx?: ServiceContext): Promise<SmtpSettings | null> {
  const current = await readSmtpSettingsVersion(em);
  if (!current) return null;
  const secrets = await em.count(SecretEntity, { id: SMTP_PASSWORD_SECRET });
  return { ...current.settings, hasPassword: secrets > 0, updatedAt: current.updatedAt };
}

/** The settings with the unsealed password, for the mailer only. Throws CF_SMTP_NOT_CONFIGURED when unset. */
export async function openSmtpSettings(em: Em, ctx: ServiceContext): Promise<SmtpConnectionSettings> {
  const current = await readSmtpSettingsVersion(em);
  if (!current) {
    throw new CertFleetError(
      'CF_SMTP_NOT_CONFIGURED',
      'smtp: no SMTP settings; an administrator sets them with PUT /api/v1/settings/smtp'
    );
  }
  const secret = await em.findOne(SecretEntity, { id: SMTP_PASSWORD_SECRET });
  const password = secret ? unseal(ctx.masterKey, secretCtx, secret.sealed).toString('utf8') : null;
  return { ...current.settings, hasPassword: secret !== null, password, updatedAt: current.updatedAt };
}

/**
 * SPEC N1 PUT: validates and stores the settings (audited as `settings.smtp.updated` with the changed field names).
 * The password is sealed into `secrets`; setting, changing or removing it is audited as
 * `settings.smtp.password_changed` without the value. Without a username there is no AUTH, so a stored password
 * is removed. Throws CF_VALIDATION listing each bad field.
 */
export async function saveSmtpSettings(ctx: ServiceContext, raw: unknown, actor: Actor): Promise<SmtpSettings> {
  const input = parseInput(smtpSettingsInputSchema, raw, 'smtp');
  return ctx.db.em().transactional(async (em) => {
    const now = ctx.clock.now();
    const row = await em.findOne(SettingEntity, { key: SMTP_SETTINGS_KEY });
    const previous = row ? storedSchema.safeParse(row.value).data : undefined;
    const next: StoredSmtpSettings = {
      fromAddress: input.fromAddress,
      fromName: input.fromName,
      host: input.host,
      port: input.port,
      security: input.security,
      username: input.username ?? null,
      adminEmail: input.adminEmail,
      rejectUnauthorized: input.rejectUnauthorized,
      caPem: input.caPem ?? null,
      revision: (previous?.revision ?? 0) + 1,
    };
    const changed = (Object.keys(next) as Array<keyof StoredSmtpSettings>).filter(
      (k) => k !== 'revision' && previous?.[k] !== next[k]
    );
    if (row) {
      row.value = next;
      row.updatedAt = now;
    } else {
      em.persist(em.create(SettingEntity, { key: SMTP_SETTINGS_KEY, value: next, updatedAt: now }));
    }

    const secret = await em.findOne(SecretEntity, { id: SMTP_PASSWORD_SECRET });
    let passwordChange: 'set' | 'replaced' | 'removed' | null = null;
    const removePassword = input.password === null || input.password === '' || next.username === null;
    if (input.password && next.username !== null) {
      const sealed = seal(ctx.masterKey, secretCtx, input.password);
      if (secret) {
        secret.sealed = sealed;
        secret.updatedAt = now;
        passwordChange = 'replaced';
      } else {
        em.persist(em.create(SecretEntity, { id: SMTP_PASSWORD_SECRET, sealed, updatedAt: now }));
        passwordChange = 'set';
      }
    } else if (removePassword && secret) {
      em.remove(secret);
      passwordChange = 'removed';
    }

    await appendAudit(
      em,
      {
        actor,
        action: 'settings.smtp.updated',
        targetType: 'settings',
        targetId: SMTP_SETTINGS_KEY,
        details: { changed, host: next.host, port: next.port, security: next.security, revision: next.revision },
      },
      now
    );
    if (passwordChange) {
      await appendAudit(
        em,
        {
          actor,
          action: 'settings.smtp.password_changed',
          targetType: 'secret',
          targetId: SMTP_PASSWORD_SECRET,
          details: { change: passwordChange },
        },
        now
      );
    }
    const hasPassword = passwordChange === 'set' || passwordChange === 'replaced' || (!!secret && !passwordChange);
    return { ...next, hasPassword, updatedAt: now };
  });
}
