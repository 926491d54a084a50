/**
 * SPEC N1–N3 (and the O2 stalled-process mail) against real components: the HTTPS controller on its own database,
 * and real SMTP servers (npm `smtp-server` in child processes) with STARTTLS or implicit TLS and AUTH, using a CA
 * minted by openssl for this run. Messages are read back from the server's spool and parsed with mailparser.
 */
import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import { Writable } from 'node:stream';
import type { TestFn } from 'ava';
import Fastify, { type FastifyInstance } from 'fastify';
import pino from 'pino';
import { Client } from 'pg';
import { errorHandler } from '../../../controller/src/http/error-handler';
import { addRoute } from '../../../controller/src/http/route';
import { notificationRoutes } from '../../../controller/src/http/routes/notifications';
import type { RouteDeps } from '../../../controller/src/http/routes/types';
import {
  closeMailTransports,
  mailNotifier,
  sendMail,
  SMTP_PASSWORD_SECRET,
} from '../../../controller/src/notifications';
import { unseal } from '../../../controller/src/secrets/envelope';
import { SEALED_COLUMNS, sealContext } from '../../../controller/src/secrets/sealed-columns';
import { authenticate } from '../../../controller/src/services/auth-service';
import { startTestController, type TestController } from '../../_helpers/controller';
import { assertCommands, testNeeding } from '../../_helpers/needs';
import { makeTestMailTls, startSmtpTestServer, type SmtpTestServer } from '../../_helpers/smtp-server';

type Json = Record<string, unknown>;
type Response = { status: number; json: unknown };
/** Calls the API as the admin, or without a session when `anonymous` is set. */
type Api = (method: string, url: string, body?: unknown, anonymous?: boolean) => Promise<Response>;

interface Ctx {
  tc: TestController;
  api: Api;
  via: 'live controller' | 'injected app (routes not registered in app.ts yet)';
  injected?: FastifyInstance;
  starttls: SmtpTestServer;
  implicit: SmtpTestServer;
  logs: string[];
  pkiDir: string;
  /** Every password the tests gave the controller (checked against logs and tables at the end). */
  passwords: string[];
}

const test = testNeeding<Ctx>(['openssl']) as TestFn<Ctx>;

const FROM = 'certfleet@example.test';
const FROM_NAME = 'CertFleet 証明書管理';
const ADMIN = 'pki-admin@example.test';

/**
 * The notification routes through the live controller once app.ts registers them; until then through a fastify
 * app built here with the same addRoute helper, error handler and bearer authentication, on the live context.
 */
async function notificationApi(tc: TestController, token: string): Promise<Pick<Ctx, 'api' | 'via' | 'injected'>> {
  const doc = (await tc.request('GET', '/api/openapi.json')).json as { paths?: Record<string, unknown> };
  if (doc.paths?.['/api/v1/settings/smtp']) {
    return { api: (m, u, b, anon) => tc.request(m, u, b, anon ? undefined : token), via: 'live controller' };
  }
  const ctx = tc.controller.ctx;
  const app = Fastify({ logger: false });
  app.setErrorHandler(errorHandler);
  app.addHook('preHandler', async (req) => {
    const auth = req.headers.authorization;
    if (auth?.startsWith('Bearer ')) req.user = await authenticate(ctx, auth.slice(7)).catch(() => undefined);
  });
  notificationRoutes((spec) => addRoute(app, [], spec), { ctx } as RouteDeps);
  await app.ready();
  const api: Api = async (method, url, body, anon) => {
    const res = await app.inject({
      method: method as 'GET',
      url,
      headers: anon ? {} : { authorization: `Bearer ${token}` },
      ...(body === undefined ? {} : { payload: body as Json }),
    });
    return { status: res.statusCode, json: res.body ? (JSON.parse(res.body) as unknown) : null };
  };
  return { api, via: 'injected app (routes not registered in app.ts yet)', injected: app };
}

const errorOf = (r: Response): { code?: string; message?: string; details?: Json } =>
  (r.json as { error?: { code?: string; message?: string; details?: Json } }).error ?? {};

function settingsFor(srv: SmtpTestServer, over: Json = {}): Json {
  return {
    fromAddress: FROM,
    fromName: FROM_NAME,
    host: srv.host,
    port: srv.port,
    security: srv.mode,
    username: srv.user,
    password: srv.password,
    adminEmail: ADMIN,
    caPem: srv.caPem,
    ...over,
  };
}

async function sql<T = Json>(tc: TestController, text: string, params: unknown[] = []): Promise<T[]> {
  const c = new Client({ connectionString: tc.databaseUrl });
  await c.connect();
  try {
    return (await c.query(text, params)).rows as T[];
  } finally {
    await c.end();
  }
}

test.before(async (t) => {
  assertCommands(['openssl']);
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs.push(chunk.toString());
      cb();
    },
  });
  const t0 = Date.now();
  const tc = await startTestController({ log: pino({ level: 'trace' }, sink) });
  const token = await tc.adminToken();
  const t1 = Date.now();
  const pkiDir = fs.mkdtempSync(path.join(os.tmpdir(), 'certfleet-mail-pki-'));
  const tls = makeTestMailTls(pkiDir);
  const [starttls, implicit] = await Promise.all([
    startSmtpTestServer({ mode: 'starttls', tls }),
    startSmtpTestServer({ mode: 'tls', tls, user: 'implicit-mailer' }),
  ]);
  const t2 = Date.now();
  t.log(`controller ready in ${t1 - t0} ms; test PKI + two SMTP server processes in ${t2 - t1} ms`);
  const picked = await notificationApi(tc, token);
  t.log(`routes via ${picked.via}`);
  t.context = { tc, ...picked, starttls, implicit, logs, pkiDir, passwords: [starttls.password, implicit.password] };
});

test.after.always(async (t) => {
  const c = t.context;
  if (c.tc) closeMailTransports(c.tc.controller.ctx);
  await c.injected?.close();
  await Promise.all([c.starttls?.stop(), c.implicit?.stop()]);
  await c.tc?.close();
  if (c.pkiDir) fs.rmSync(c.pkiDir, { recursive: true, force: true });
});

test.serial(
  'N1 without SMTP settings: GET says so, the test mail is CF_SMTP_NOT_CONFIGURED, nothing sent or logged',
  async (t) => {
    const { api, tc } = t.context;
    t.is((await api('GET', '/api/v1/settings/smtp', undefined, true)).status, 401, 'needs a session');
    t.is((await api('GET', '/api/v1/sent-mail', undefined, true)).status, 401);
    const get = await api('GET', '/api/v1/settings/smtp');
    t.is(get.status, 200);
    t.deepEqual(get.json, { configured: false });
    const send = await api('POST', '/api/v1/settings/smtp/test', {});
    t.is(send.status, 409);
    t.is(errorOf(send).code, 'CF_SMTP_NOT_CONFIGURED');
    const direct = await t.throwsAsync(
      sendMail(tc.controller.ctx, { template: 'test-mail', data: { requestedBy: 'test', at: new Date() } })
    );
    t.is((direct as { code?: string }).code, 'CF_SMTP_NOT_CONFIGURED');
    t.deepEqual((await api('GET', '/api/v1/sent-mail')).json, { items: [], total: 0 });
    t.is((await t.context.starttls.received()).length, 0);
  }
);

test.serial('N1 settings round trip: password write-only, sealed in secrets, audited without the value', async (t) => {
  const { api, tc, starttls } = t.context;
  const pw = starttls.password;
  const put = await api('PUT', '/api/v1/settings/smtp', settingsFor(starttls));
  t.is(put.status, 200, JSON.stringify(put.json));
  const view = put.json as Json;
  t.like(view, {
    configured: true,
    fromAddress: FROM,
    fromName: FROM_NAME,
    host: '127.0.0.1',
    port: starttls.port,
    security: 'starttls',
    username: starttls.user,
    hasPassword: true,
    adminEmail: ADMIN,
    rejectUnauthorized: true,
    revision: 1,
  });
  t.false('password' in view);
  const get = await api('GET', '/api/v1/settings/smtp');
  t.false(JSON.stringify(get.json).includes(pw), 'GET never returns the password');
  t.like(get.json as Json, { hasPassword: true, caPem: starttls.caPem, revision: 1 });

  // Sealed at rest: the secrets row holds an envelope, not the password in any encoding; it opens to the password.
  const [secret] = await sql<{ sealed: Buffer }>(tc, 'select sealed from secrets where id = $1', [
    SMTP_PASSWORD_SECRET,
  ]);
  t.truthy(secret);
  const sealed = secret!.sealed;
  t.is(sealed.subarray(0, 4).toString(), 'CFE1');
  for (const form of [Buffer.from(pw), Buffer.from(Buffer.from(pw).toString('base64')), Buffer.from(pw, 'utf16le')]) {
    t.is(sealed.indexOf(form), -1);
  }
  const ctx = tc.controller.ctx;
  t.is(unseal(ctx.masterKey, sealContext(SEALED_COLUMNS.namedSecret, SMTP_PASSWORD_SECRET), sealed).toString(), pw);
  const [setting] = await sql<{ value: unknown }>(tc, `select value from settings where key = 'smtp'`);
  t.false(JSON.stringify(setting?.value).includes(pw), 'settings.smtp holds no password');

  // Audited: the update and the password change, neither with the value.
  const audit = await sql<{ action: string; details: unknown }>(
    tc,
    `select action, details from audit_log where action like 'settings.smtp.%' order by at, action desc`
  );
  t.deepEqual(
    audit.map((a) => a.action),
    ['settings.smtp.updated', 'settings.smtp.password_changed']
  );
  t.like(audit[1]!.details as Json, { change: 'set' });
  t.false(JSON.stringify(audit).includes(pw));

  // PUT without a password keeps it; the revision grows; no password event.
  const { password: _p, ...withoutPassword } = settingsFor(starttls, { fromName: 'CertFleet' });
  const again = (await api('PUT', '/api/v1/settings/smtp', withoutPassword)).json as Json;
  t.like(again, { hasPassword: true, revision: 2, fromName: 'CertFleet' });
  const events = await sql(tc, `select 1 from audit_log where action = 'settings.smtp.password_changed'`);
  t.is(events.length, 1);
  await api('PUT', '/api/v1/settings/smtp', settingsFor(starttls));

  // Validation: typed CF_VALIDATION naming the field.
  const bad = await api('PUT', '/api/v1/settings/smtp', settingsFor(starttls, { fromAddress: 'nope' }));
  t.is(bad.status, 400);
  t.is(errorOf(bad).code, 'CF_VALIDATION');
  t.regex(errorOf(bad).message ?? '', /fromAddress/);
  const plain = await api('PUT', '/api/v1/settings/smtp', settingsFor(starttls, { security: 'none' }));
  t.is(errorOf(plain).code, 'CF_VALIDATION', 'no credentials over an unencrypted connection');
});

test.serial(
  'N1 test mail over STARTTLS + AUTH arrives: subject, from, to, UTF-8 body; server saw TLS and the user',
  async (t) => {
    const { api, starttls } = t.context;
    const t0 = Date.now();
    const sent = await api('POST', '/api/v1/settings/smtp/test', { to: 'ops@example.test' });
    const ms = Date.now() - t0;
    t.is(sent.status, 200, JSON.stringify(sent.json));
    const record = sent.json as Json;
    t.like(record, {
      template: 'test-mail',
      to: ['ops@example.test'],
      status: 'sent',
      error: null,
      subject: '[CertFleet] Test e-mail',
    });
    t.truthy(record.messageId);

    const [mail] = await starttls.waitForMail(1);
    const m = mail!.parsed;
    t.is(m.subject, '[CertFleet] Test e-mail');
    t.deepEqual(m.from?.value, [{ address: FROM, name: FROM_NAME }], 'UTF-8 display name survives');
    t.is((Array.isArray(m.to) ? m.to[0] : m.to)?.value[0]?.address, 'ops@example.test');
    t.true(m.text?.includes('これは CertFleet からのテストメールです。'), 'UTF-8 body survives');
    t.true(m.text?.includes('Requested by: user:admin'));
    t.true(typeof m.html === 'string' && m.html.includes('テストメール'));
    t.is(m.messageId, record.messageId as string);
    t.is(m.headers.get('auto-submitted'), 'auto-generated');
    t.is(m.headers.get('x-certfleet-template'), 'test-mail');
    t.like(mail!.session, {
      secure: true,
      user: starttls.user,
      transmissionType: 'ESMTPSA',
      mailFrom: FROM,
      rcptTo: ['ops@example.test'],
    });
    t.regex(mail!.session.tls?.version ?? '', /^TLSv1\.[23]$/);
    const attempts = starttls.authAttempts();
    t.true(attempts.length >= 1 && attempts.every((a) => a.secure), 'AUTH only after STARTTLS');
    t.like(attempts.at(-1), { username: starttls.user, ok: true });

    // Default recipient is the administrator; the pooled connection is reused for the same settings version.
    const t1 = Date.now();
    const second = await api('POST', '/api/v1/settings/smtp/test');
    const ms2 = Date.now() - t1;
    t.is(second.status, 200);
    t.deepEqual((second.json as Json).to, [ADMIN]);
    const both = await starttls.waitForMail(2);
    t.deepEqual(both[1]!.session.rcptTo, [ADMIN]);
    t.is(both[1]!.session.id, both[0]!.session.id, 'one pooled SMTP connection delivered both');
    t.log(`test mail: first ${ms} ms (connect + STARTTLS + AUTH), second ${ms2} ms (pooled connection)`);
  }
);

test.serial('N1 concurrent sends share one pool of at most two connections; every one is recorded', async (t) => {
  const { tc, starttls } = t.context;
  const before = (await starttls.received()).length;
  const N = 40;
  const t0 = Date.now();
  const records = await Promise.all(
    Array.from({ length: N }, (_, i) =>
      sendMail(tc.controller.ctx, {
        template: 'expiry-warning',
        to: `owner${i}@example.test`,
        data: { certificates: [{ definitionName: `証明書-${i}`, notAfter: '2026-06-01T00:00:00Z', daysLeft: 30 }] },
      })
    )
  );
  const ms = Date.now() - t0;
  t.true(records.every((r) => r.status === 'sent'));
  const mails = (await starttls.waitForMail(before + N)).slice(before);
  t.is(mails.length, N);
  const connections = new Set(mails.map((m) => m.session.id));
  t.true(connections.size <= 3, `${connections.size} connections (pool of 2, plus the one already open)`);
  t.deepEqual(
    mails.map((m) => m.parsed.subject ?? '').sort(),
    records.map((r) => r.subject).sort(),
    'every rendered subject arrived'
  );
  t.log(`${N} concurrent mails in ${ms} ms (${((N * 1000) / ms).toFixed(0)}/s) over ${connections.size} connection(s)`);
});

test.serial('N1 implicit TLS; saving settings rebuilds the transport', async (t) => {
  const { api, implicit, starttls } = t.context;
  const before = (await starttls.received()).length;
  t.is((await api('PUT', '/api/v1/settings/smtp', settingsFor(implicit))).status, 200);
  const sent = await api('POST', '/api/v1/settings/smtp/test', {});
  t.is(sent.status, 200, JSON.stringify(sent.json));
  const [mail] = await implicit.waitForMail(1);
  t.like(mail!.session, { secure: true, user: 'implicit-mailer', transmissionType: 'ESMTPSA' });
  t.is(mail!.parsed.subject, '[CertFleet] Test e-mail');
  t.is((await starttls.received()).length, before, 'nothing went to the old server');
});

test.serial('N1 an untrusted mail server certificate is refused unless verification is turned off', async (t) => {
  const { api, tc, starttls } = t.context;
  const before = (await starttls.received()).length;
  const { caPem: _c, ...noCa } = settingsFor(starttls);
  await api('PUT', '/api/v1/settings/smtp', noCa);
  const r = await api('POST', '/api/v1/settings/smtp/test', {});
  t.is(r.status, 502);
  t.is(errorOf(r).code, 'CF_SMTP_FAILED');
  t.regex(errorOf(r).message ?? '', /certificate/i);
  const id = errorOf(r).details?.sentMailId as string;
  const [row] = await sql<{ status: string; error: string }>(tc, 'select status, error from sent_mail where id = $1', [
    id,
  ]);
  t.is(row?.status, 'failed');
  t.regex(row?.error ?? '', /certificate/i);
  t.is((await starttls.received()).length, before);

  await api('PUT', '/api/v1/settings/smtp', { ...noCa, rejectUnauthorized: false });
  t.is((await api('POST', '/api/v1/settings/smtp/test', {})).status, 200, 'rejectUnauthorized: false accepts it');
  await starttls.waitForMail(before + 1);
});

test.serial(
  'N1 wrong SMTP password: CF_SMTP_FAILED (retryable), a failed sent-mail row, no credentials anywhere',
  async (t) => {
    const { api, tc, starttls } = t.context;
    const wrong = `wrong-${starttls.password.slice(-8)}-pw`;
    t.context.passwords.push(wrong);
    const before = (await starttls.received()).length;
    await api('PUT', '/api/v1/settings/smtp', settingsFor(starttls, { password: wrong }));
    const r = await api('POST', '/api/v1/settings/smtp/test', {});
    t.is(r.status, 502);
    const e = errorOf(r);
    t.is(e.code, 'CF_SMTP_FAILED');
    t.regex(e.message ?? '', /EAUTH.*535/);
    t.like(e.details ?? {}, { smtpCode: 535, code: 'EAUTH', permanent: true });
    t.false(JSON.stringify(r.json).includes(wrong));
    const [row] = await sql<{ status: string; error: string; template: string }>(
      tc,
      'select status, error, template from sent_mail where id = $1',
      [e.details?.sentMailId]
    );
    t.like(row, { status: 'failed', template: 'test-mail' });
    t.false(row!.error.includes(wrong));
    t.like(starttls.authAttempts().at(-1), { username: starttls.user, ok: false, secure: true });
    t.is((await starttls.received()).length, before);

    const err = await t.throwsAsync(
      sendMail(tc.controller.ctx, { template: 'test-mail', data: { requestedBy: 'test', at: new Date() } })
    );
    t.like(err as object, { code: 'CF_SMTP_FAILED', retryable: true });
    // The notifier never throws: a failed mail must not fail the process that reports.
    await t.notThrowsAsync(
      mailNotifier(tc.controller.ctx).notify('stalled-process', {
        definitionName: 'x',
        requestId: 'r',
        step: 's',
        waitingFor: 'w',
      })
    );
  }
);

test.serial('O2 stalled-process mail from the acquisition notifier reaches the administrator (UTF-8)', async (t) => {
  const { api, tc, starttls } = t.context;
  await api('PUT', '/api/v1/settings/smtp', settingsFor(starttls));
  const before = (await starttls.received()).length;
  // The payload shape the acquisition engine sends today.
  await mailNotifier(tc.controller.ctx).notify('stalled-process', {
    definitionName: '本番ウェブ証明書',
    requestId: '9d1c3f0e-5a4b-4c2d-8e1f-0a9b8c7d6e5f',
    step: 'ordered',
    waitingFor: 'ordered: the order number and date from the vendor',
    resume: 'POST /api/v1/requests/9d1c3f0e-5a4b-4c2d-8e1f-0a9b8c7d6e5f/resume',
  });
  const all = await starttls.waitForMail(before + 1);
  const mail = all.at(-1)!;
  t.is(mail.parsed.subject, '[CertFleet] Process stalled: 本番ウェブ証明書 (ordered)');
  t.deepEqual(mail.session.rcptTo, [ADMIN]);
  for (const s of ['9d1c3f0e-5a4b-4c2d-8e1f-0a9b8c7d6e5f', 'the order number and date', '/resume', 'How to resume']) {
    t.true(mail.parsed.text?.includes(s), s);
  }
  t.is(mail.parsed.headers.get('x-certfleet-template'), 'stalled-process');
});

test.serial('N3 the sent-mail log lists every attempt, newest first, paged and filtered', async (t) => {
  const { api, tc } = t.context;
  const all = (await api('GET', '/api/v1/sent-mail?limit=500')).json as { items: Json[]; total: number };
  const [{ n }] = (await sql<{ n: string }>(tc, 'select count(*) as n from sent_mail')) as [{ n: string }];
  t.is(all.total, Number(n));
  t.is(all.items.length, all.total);
  const times = all.items.map((i) => Date.parse(i.at as string));
  t.deepEqual(
    times,
    [...times].sort((a, b) => b - a),
    'newest first'
  );
  t.is(all.items[0]!.template, 'stalled-process', 'the newest is the stalled-process mail');
  const failed = all.items.filter((i) => i.status === 'failed').length;
  t.true(failed >= 3, 'untrusted certificate, wrong password (API + direct) attempts are listed');
  t.is(((await api('GET', '/api/v1/sent-mail?status=failed')).json as { total: number }).total, failed);
  t.is(
    ((await api('GET', '/api/v1/sent-mail?template=stalled-process')).json as { total: number }).total,
    all.items.filter((i) => i.template === 'stalled-process').length
  );
  const page = (await api('GET', '/api/v1/sent-mail?limit=2&offset=1')).json as { items: Json[]; total: number };
  t.deepEqual(
    page.items.map((i) => i.id),
    all.items.slice(1, 3).map((i) => i.id)
  );
  t.is((await api('GET', '/api/v1/sent-mail?limit=0')).status, 400);
});

test.serial('N1 no SMTP password appears in the logs, the sent-mail log or the audit log', async (t) => {
  const { tc, logs, passwords } = t.context;
  t.true(logs.length > 10, 'the controller logged');
  const tables = JSON.stringify([
    await sql(tc, 'select * from sent_mail'),
    await sql(tc, 'select * from audit_log'),
    await sql(tc, 'select * from settings'),
  ]);
  const text = logs.join('');
  for (const pw of passwords) {
    for (const form of [pw, Buffer.from(pw).toString('base64')]) {
      t.false(text.includes(form), 'not in the logs');
      t.false(tables.includes(form), 'not in sent_mail / audit_log / settings');
    }
  }
  t.true(text.includes('"msg":"mail sent"') && text.includes('"msg":"mail not sent"'), 'sends are logged');
});
