/**
 * The mailer (SPEC N1–N3): renders a template, sends it through the configured SMTP server with nodemailer, and
 * records every attempt in the sent-mail log.
 *
 * Contract of {@link sendMail}:
 * - bad template data → CF_VALIDATION, nothing sent, nothing recorded;
 * - no SMTP settings → CF_SMTP_NOT_CONFIGURED, nothing sent, nothing recorded;
 * - otherwise exactly one `sent_mail` row per attempt: `sent` (with the server's message id) or `failed` (with the
 *   error, credentials scrubbed), and a failed attempt then throws CF_SMTP_FAILED (`retryable: true`; `details`
 *   carries `sentMailId`, the SMTP reply code and whether the server called the failure permanent).
 *
 * Security: `starttls` requires the upgrade (nodemailer `requireTLS`), `tls` is implicit TLS, `none` never sends
 * credentials (the settings schema refuses a username with it). The server certificate is verified against the
 * bundled roots plus `caPem` unless `rejectUnauthorized` is false. Neither the password nor the AUTH exchange is
 * ever logged or recorded: nodemailer's logger is off, and error texts are scrubbed before they are stored.
 *
 * One pooled transport is kept per database (i.e. per controller) and per settings version; saving the settings
 * (here or on another replica) bumps the version, and the next send builds a new pool and retires the old one once
 * its in-flight messages are done. Call {@link closeMailTransports} on shutdown.
 *
 * Background processes use {@link mailNotifier}, which never throws (a failed mail must not fail a process).
 */
import crypto from 'node:crypto';
import tls from 'node:tls';
import { z } from 'zod';
import { createTransport } from 'nodemailer';
import type Mail from 'nodemailer/lib/mailer';
import type { SMTPPoolOptions, SMTPPoolSentMessageInfo } from 'nodemailer/lib/smtp-pool';
import { CertFleetError, isCertFleetError } from '@certfleet/shared';
import type { SentMail } from '../domain/notification';
import type { ServiceContext } from '../services/context';
import { parseInput } from '../services/definition-service';
import type { Database, Em } from '../storage/database';
import { SentMailEntity } from '../storage/entities';
import { findPage } from '../storage/find-page';
import {
  openSmtpSettings,
  pemCertificates,
  readSmtpSettingsVersion,
  type SmtpConnectionSettings,
} from './smtp-settings';
import { renderTemplate, type TemplateInput, type TemplateName } from './templates';

type PooledTransport = Mail<SMTPPoolSentMessageInfo, SMTPPoolOptions>;

interface CachedTransport {
  version: string;
  transport: PooledTransport;
  /** The settings the pool was built with (nodemailer holds the password in memory anyway); used to scrub errors. */
  settings: SmtpConnectionSettings;
  inFlight: number;
  retired: boolean;
}

/** Keyed by the Database object, so several controllers in one process (tests) never share a pool. */
const transports = new WeakMap<Database, CachedTransport>();

/** Limits so a slow or silent server cannot hold a caller for minutes. */
export const SMTP_TIMEOUTS = { connectionMs: 15_000, greetingMs: 15_000, socketMs: 60_000 } as const;

/**
 * The nodemailer options for `settings` (pure; unit-tested). `caPem` adds to Node's bundled roots instead of
 * replacing them, so a private CA for the mail server does not break trust in public ones.
 */
export function smtpTransportOptions(settings: SmtpConnectionSettings): SMTPPoolOptions & { pool: true } {
  const tlsOptions: tls.ConnectionOptions = {
    rejectUnauthorized: settings.rejectUnauthorized,
    minVersion: 'TLSv1.2',
    ...(settings.caPem ? { ca: [...tls.rootCertificates, ...pemCertificates(settings.caPem)] } : {}),
  };
  return {
    pool: true,
    maxConnections: 2,
    maxMessages: 100,
    idleTimeout: 60_000,
    host: settings.host,
    port: settings.port,
    secure: settings.security === 'tls',
    requireTLS: settings.security === 'starttls',
    ignoreTLS: settings.security === 'none',
    ...(settings.username ? { auth: { user: settings.username, pass: settings.password ?? '' } } : {}),
    tls: tlsOptions,
    connectionTimeout: SMTP_TIMEOUTS.connectionMs,
    greetingTimeout: SMTP_TIMEOUTS.greetingMs,
    socketTimeout: SMTP_TIMEOUTS.socketMs,
    logger: false,
    debug: false,
  };
}

/** Every form in which a credential could show up in an SMTP error text (raw, base64 of AUTH LOGIN/PLAIN). */
function credentialForms(settings: Pick<SmtpConnectionSettings, 'username' | 'password'>): string[] {
  const pass = settings.password;
  if (!pass) return [];
  const user = settings.username ?? '';
  const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
  return [
    pass,
    b64(pass),
    b64(`\u0000${user}\u0000${pass}`),
    b64(`${user}\u0000${user}\u0000${pass}`),
    encodeURIComponent(pass),
  ]
    .filter((s) => s.length >= 3)
    .sort((a, b) => b.length - a.length);
}

/** Removes credentials from an error text: known credential forms, and whatever follows an AUTH verb. */
export function scrubCredentials(
  text: string,
  settings: Pick<SmtpConnectionSettings, 'username' | 'password'>
): string {
  let out = text;
  for (const secret of credentialForms(settings)) out = out.split(secret).join('[redacted]');
  return out.replace(/\b(AUTH\s+(?:PLAIN|LOGIN|XOAUTH2|CRAM-MD5))\s+\S+/gi, '$1 [redacted]');
}

/** The facts of a nodemailer error worth keeping, with the text scrubbed and capped. */
export function describeSmtpError(
  err: unknown,
  settings: Pick<SmtpConnectionSettings, 'host' | 'port' | 'username' | 'password'>
): { message: string; code?: string; smtpCode?: number; command?: string; permanent?: boolean } {
  const e = (typeof err === 'object' && err !== null ? err : { message: String(err) }) as {
    message?: unknown;
    code?: unknown;
    responseCode?: unknown;
    command?: unknown;
    permanent?: unknown;
  };
  const code = typeof e.code === 'string' ? e.code : undefined;
  const text = scrubCredentials(typeof e.message === 'string' ? e.message : String(err), settings).slice(0, 2000);
  return {
    message: `smtp(${settings.host}:${settings.port}): ${code ? `${code}: ` : ''}${text}`,
    ...(code ? { code } : {}),
    ...(typeof e.responseCode === 'number' ? { smtpCode: e.responseCode } : {}),
    ...(typeof e.command === 'string' ? { command: scrubCredentials(e.command, settings) } : {}),
    ...(typeof e.permanent === 'boolean' ? { permanent: e.permanent } : {}),
  };
}

/** Closes a pool now, or (when messages are in flight) as soon as the last of them is done. */
function retire(entry: CachedTransport): void {
  entry.retired = true;
  if (entry.inFlight === 0) entry.transport.close();
}

/**
 * Counts a use of `entry`. Taken synchronously when transportFor hands the entry out, so a concurrent settings
 * change cannot close the pool between the hand-out and the send.
 */
function acquire(entry: CachedTransport): CachedTransport {
  entry.inFlight++;
  return entry;
}

function release(entry: CachedTransport): void {
  entry.inFlight--;
  if (entry.retired && entry.inFlight === 0) entry.transport.close();
}

interface ReadyTransport {
  entry: CachedTransport;
  adminEmail: string;
  from: { name: string; address: string };
}

/**
 * The pooled transport for the current settings version, built (and the previous one retired) on change. The caller
 * holds a use of the returned entry and must {@link release} it.
 */
async function transportFor(ctx: ServiceContext): Promise<ReadyTransport> {
  const em = ctx.db.em();
  const head = await readSmtpSettingsVersion(em);
  if (!head) {
    throw new CertFleetError(
      'CF_SMTP_NOT_CONFIGURED',
      'smtp: no SMTP settings; an administrator sets them with PUT /api/v1/settings/smtp'
    );
  }
  const from = { name: head.settings.fromName, address: head.settings.fromAddress };
  const cached = transports.get(ctx.db);
  if (cached && cached.version === head.version) {
    return { entry: acquire(cached), adminEmail: head.settings.adminEmail, from };
  }
  const settings = await openSmtpSettings(em, ctx);
  const version = `${settings.revision}@${settings.updatedAt.toISOString()}`;
  const again = transports.get(ctx.db);
  if (again && again.version === version) {
    return { entry: acquire(again), adminEmail: settings.adminEmail, from };
  }
  const transport = createTransport(smtpTransportOptions(settings), {
    headers: { 'Auto-Submitted': 'auto-generated' },
  });
  // A pooled transport reports connection problems as events too; without a listener they would crash the process.
  transport.on('error', (err: unknown) => {
    ctx.log.warn({ smtp: describeSmtpError(err, settings) }, 'smtp: transport error');
  });
  const entry: CachedTransport = { version, transport, settings, inFlight: 0, retired: false };
  transports.set(ctx.db, entry);
  if (again) retire(again);
  return {
    entry: acquire(entry),
    adminEmail: settings.adminEmail,
    from: { name: settings.fromName, address: settings.fromAddress },
  };
}

/**
 * Closes the pooled SMTP transport of this controller (call on shutdown; tests). Messages in flight finish first.
 * Safe to call when none is open; the next send opens a new pool.
 */
export function closeMailTransports(ctx: Pick<ServiceContext, 'db'>): void {
  const entry = transports.get(ctx.db);
  if (!entry) return;
  transports.delete(ctx.db);
  retire(entry);
}

export interface SendMailOptions<K extends TemplateName> {
  template: K;
  /** Recipients; defaults to the administrator (`adminEmail` of the SMTP settings). */
  to?: string | readonly string[];
  data: TemplateInput<K>;
  /** Files to attach (e.g. the manual package of an install request). Not kept in the sent-mail log. */
  attachments?: readonly MailAttachment[];
}

export interface MailAttachment {
  filename: string;
  content: Buffer;
  contentType: string;
}

const recipientsSchema = z.array(z.email().max(320)).min(1).max(100);

async function record(ctx: ServiceContext, mail: SentMail): Promise<void> {
  const em = ctx.db.em();
  em.persist(em.create(SentMailEntity, mail));
  await em.flush();
}

/**
 * Renders `template` with `data` and sends it (see the module comment for the full contract). Returns the
 * `sent_mail` record of a successful attempt.
 */
export async function sendMail<K extends TemplateName>(
  ctx: ServiceContext,
  options: SendMailOptions<K>
): Promise<SentMail> {
  const rendered = renderTemplate(options.template, options.data);
  const { entry, adminEmail, from } = await transportFor(ctx);
  try {
    const to = parseInput(
      recipientsSchema,
      options.to === undefined ? [adminEmail] : typeof options.to === 'string' ? [options.to] : [...options.to],
      'mail.to'
    );
    const mail: SentMail = {
      id: crypto.randomUUID(),
      at: ctx.clock.now(),
      template: options.template,
      to,
      subject: rendered.subject,
      body: rendered.text,
      status: 'sent',
      error: null,
      messageId: null,
    };
    try {
      const info = await entry.transport.sendMail({
        from,
        to,
        subject: rendered.subject,
        text: rendered.text,
        ...(rendered.html ? { html: rendered.html } : {}),
        ...(options.attachments?.length
          ? { attachments: options.attachments.map((a) => ({ ...a, contentDisposition: 'attachment' as const })) }
          : {}),
        headers: { 'X-CertFleet-Template': options.template },
      });
      mail.messageId = info.messageId ?? null;
      const rejected = info.rejected ?? [];
      if (rejected.length) mail.error = `the server refused some recipients: ${rejected.join(', ')}`;
    } catch (err) {
      const facts = describeSmtpError(err, entry.settings);
      mail.status = 'failed';
      mail.error = facts.message;
      await record(ctx, mail);
      ctx.log.warn({ template: mail.template, sentMailId: mail.id, smtp: facts }, 'mail not sent');
      const { message, ...details } = facts;
      throw new CertFleetError('CF_SMTP_FAILED', message, {
        retryable: true,
        details: { sentMailId: mail.id, ...details },
      });
    }
    await record(ctx, mail);
    ctx.log.info({ template: mail.template, sentMailId: mail.id, to, messageId: mail.messageId }, 'mail sent');
    return mail;
  } finally {
    release(entry);
  }
}

/** What background processes call to notify the administrator (structurally the acquisition engine's `Notifier`). */
export interface MailNotifier {
  notify(template: string, data: Record<string, unknown>): Promise<void>;
}

/**
 * A notifier that mails the administrator through {@link sendMail} and never throws: a failed or unconfigured mail
 * must not fail the process that reports (SPEC O2). SMTP failures are in the sent-mail log already (and logged by
 * sendMail); no SMTP settings is logged as a warning; an unknown template or bad data is a bug and logged as an
 * error.
 */
export function mailNotifier(ctx: ServiceContext): MailNotifier {
  return {
    notify: async (template, data) => {
      try {
        await sendMail(ctx, { template: template as TemplateName, data: data as never });
      } catch (err) {
        const code = isCertFleetError(err) ? err.code : undefined;
        if (code === 'CF_SMTP_FAILED') return;
        if (code === 'CF_SMTP_NOT_CONFIGURED') {
          ctx.log.warn({ template }, 'notification not mailed: SMTP is not configured');
          return;
        }
        ctx.log.error({ template, code, msg: (err as Error).message }, 'notification not mailed');
      }
    },
  };
}

export const sentMailListQuerySchema = z
  .object({
    limit: z.coerce.number().int().min(1).max(500).default(50),
    offset: z.coerce.number().int().min(0).default(0),
    status: z.enum(['sent', 'failed']).optional(),
    template: z.string().max(50).optional(),
  })
  .strict();

/** SPEC N3: the sent-mail log, newest first, paged and optionally filtered by status or template. */
export async function listSentMail(em: Em, raw: unknown): Promise<{ items: SentMail[]; total: number }> {
  const q = parseInput(sentMailListQuerySchema, raw, 'sent-mail.list');
  const where = (): Record<string, unknown> => ({
    ...(q.status ? { status: q.status } : {}),
    ...(q.template ? { template: q.template } : {}),
  });
  return findPage(em, SentMailEntity, where, { at: 'desc', id: 'desc' }, q.limit, q.offset);
}
