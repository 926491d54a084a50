/**
 * SPEC D4 (manual package) and D5 (install request / install notification mails) against real components: the
 * HTTPS controller on its own database, a certificate imported with its chain and key, and a real SMTP server
 * (npm `smtp-server` in a child process, STARTTLS + AUTH); mails are parsed with mailparser.
 *
 * The API test goes through the live controller once app.ts registers `manualPackageRoutes`; until then through a
 * fastify app built here with the same addRoute helper, error handler and bearer authentication.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import type { ExecutionContext, TestFn } from 'ava';
import Fastify, { type FastifyInstance } from 'fastify';
import { unzipSync } from 'fflate';
import { errorHandler } from '../../../controller/src/http/error-handler';
import { addRoute } from '../../../controller/src/http/route';
import { manualPackageRoutes } from '../../../controller/src/http/routes/manual-packages';
import type { RouteDeps } from '../../../controller/src/http/routes/types';
import { closeMailTransports, saveSmtpSettings, sendMail } from '../../../controller/src/notifications';
import { authenticate } from '../../../controller/src/services/auth-service';
import { sendInstallRequestMail } from '../../../controller/src/services/deployment/install-mail-service';
import { exportManualPackage } from '../../../controller/src/services/deployment/manual-package-service';
import { importCertificate } from '../../../controller/src/services/import-service';
import { AuditEventEntity, PrivateKeyEntity, SentMailEntity } from '../../../controller/src/storage/entities';
import { ADMIN_PASSWORD, startTestController, type TestController } from '../../_helpers/controller';
import { getFixtures, readFixture, type Fixtures } from '../../_helpers/fixtures';
import { assertCommands, testNeeding } from '../../_helpers/needs';
import { makeTestMailTls, startSmtpTestServer, type SmtpTestServer } from '../../_helpers/smtp-server';

const ROUTE = '/api/v1/certificates/:id/manual-package';
const PACKAGE_PASSWORD = 'Package-Passw0rd-7c2e';

type Raw = { status: number; headers: Record<string, unknown>; body: Buffer };
type Post = (url: string, body: unknown) => Promise<Raw>;

interface Ctx {
  tc: TestController;
  fx: Fixtures;
  post: Post;
  via: string;
  injected?: FastifyInstance;
  smtp: SmtpTestServer;
  pkiDir: string;
  certificateId: string;
  privateKeyId: string;
  leafSha256: string;
}

const test = testNeeding<Ctx>(['openssl']) as TestFn<Ctx>;

function livePost(tc: TestController, token: string): Post {
  return (url, body) =>
    new Promise((resolve, reject) => {
      const data = Buffer.from(JSON.stringify(body));
      const req = https.request(
        `${tc.controller.url}${url}`,
        {
          method: 'POST',
          ca: tc.controller.caCertificatePem,
          servername: 'localhost',
          headers: {
            'content-type': 'application/json',
            'content-length': data.length,
            authorization: `Bearer ${token}`,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) })
          );
        }
      );
      req.on('error', reject);
      req.end(data);
    });
}

async function manualPackageApi(tc: TestController, token: string): Promise<Pick<Ctx, 'post' | 'via' | 'injected'>> {
  if (tc.controller.app.hasRoute({ method: 'POST', url: ROUTE })) {
    return { post: livePost(tc, token), via: 'live controller' };
  }
  const ctx = tc.controller.ctx;
  const app = Fastify({ logger: false });
  app.setErrorHandler(errorHandler);
  app.addHook('preHandler', async (req) => {
    const auth = req.headers.authorization;
    if (auth?.startsWith('Bearer ')) req.user = await authenticate(ctx, auth.slice(7)).catch(() => undefined);
  });
  manualPackageRoutes((spec) => addRoute(app, [], spec), { ctx } as RouteDeps);
  await app.ready();
  const post: Post = async (url, body) => {
    const res = await app.inject({
      method: 'POST',
      url,
      headers: { authorization: `Bearer ${token}` },
      payload: body as Record<string, unknown>,
    });
    return { status: res.statusCode, headers: res.headers, body: res.rawPayload };
  };
  return { post, via: 'injected app (manualPackageRoutes not registered in app.ts yet)', injected: app };
}

test.before(async (t) => {
  assertCommands(['openssl']);
  const fx = await getFixtures();
  const tc = await startTestController();
  const token = await tc.adminToken();
  const imported = await importCertificate(
    tc.controller.ctx,
    { file: readFixture(fx.ec.bundle) },
    { mode: 'managed', name: 'manual-package-test' },
    'test'
  );
  const pkiDir = fs.mkdtempSync(path.join(os.tmpdir(), 'certfleet-d5-pki-'));
  const smtp = await startSmtpTestServer({ mode: 'starttls', tls: makeTestMailTls(pkiDir) });
  const api = await manualPackageApi(tc, token);
  t.log(`manual-package route via ${api.via}`);
  t.context = {
    tc,
    fx,
    ...api,
    smtp,
    pkiDir,
    certificateId: imported.certificate.id,
    privateKeyId: imported.privateKeyId!,
    leafSha256: imported.certificate.sha256,
  };
});

test.after.always(async (t) => {
  const c = t.context;
  if (c.tc) closeMailTransports(c.tc.controller.ctx);
  await c.injected?.close();
  await c.smtp?.stop();
  await c.tc?.close();
  if (c.pkiDir) fs.rmSync(c.pkiDir, { recursive: true, force: true });
});

/** Checks a package ZIP: every file, the chain from the import, the key decrypts and matches the leaf. */
function checkPackage(t: ExecutionContext<Ctx>, zip: Buffer): void {
  const files = unzipSync(zip);
  t.deepEqual(Object.keys(files).sort(), [
    'README.txt',
    'cert.pem',
    'certificate.p12',
    'chain.pem',
    'fullchain.pem',
    'key.pem',
  ]);
  const text = (n: string): string => Buffer.from(files[n]!).toString();
  const leaf = new crypto.X509Certificate(text('cert.pem'));
  t.is(leaf.fingerprint256.replace(/:/g, '').toLowerCase(), t.context.leafSha256);
  t.true((text('chain.pem').match(/BEGIN CERTIFICATE/g) ?? []).length >= 1, 'the imported chain is in chain.pem');
  t.true(leaf.checkIssued(new crypto.X509Certificate(text('chain.pem'))), 'chain.pem starts with the issuer');
  const key = crypto.createPrivateKey({ key: text('key.pem'), passphrase: PACKAGE_PASSWORD });
  t.true(leaf.checkPrivateKey(key));
  t.false(zip.includes(PACKAGE_PASSWORD));
}

test.serial(
  'D4 R4 exportManualPackage: the stored key, encrypted; audited as a key export without the password',
  async (t) => {
    const { tc, certificateId, privateKeyId } = t.context;
    const ctx = tc.controller.ctx;
    const pkg = await exportManualPackage(
      ctx,
      { certificateId, serverType: 'postfix', password: PACKAGE_PASSWORD },
      'user:alice'
    );
    t.regex(pkg.fileName, /^[a-z0-9.-]+-postfix-[0-9a-f]{8}\.zip$/);
    checkPackage(t, pkg.zip);
    const audit = await ctx.db.em().fork().find(AuditEventEntity, { action: 'key.exported', targetId: privateKeyId });
    t.is(audit.length, 1);
    t.is(audit[0]!.actor, 'user:alice');
    t.like(audit[0]!.details, { format: 'manual-package', certificateId, serverType: 'postfix' });
    t.false(JSON.stringify(audit[0]).includes(PACKAGE_PASSWORD));

    const short = await t.throwsAsync(
      exportManualPackage(ctx, { certificateId, serverType: 'nginx', password: 'short' }, 'user:alice')
    );
    t.is((short as { code?: string }).code, 'CF_VALIDATION');
    const missing = await t.throwsAsync(
      exportManualPackage(
        ctx,
        { certificateId: crypto.randomUUID(), serverType: 'nginx', password: PACKAGE_PASSWORD },
        'user:alice'
      )
    );
    t.is((missing as { code?: string }).code, 'CF_NOT_FOUND');

    // a key marked non-exportable never leaves, not even encrypted; nothing is audited as exported
    const em = ctx.db.em().fork();
    await em.nativeUpdate(PrivateKeyEntity, { id: privateKeyId }, { exportable: false });
    try {
      const refused = await t.throwsAsync(
        exportManualPackage(ctx, { certificateId, serverType: 'nginx', password: PACKAGE_PASSWORD }, 'user:alice')
      );
      t.is((refused as { code?: string }).code, 'CF_KEY_EXPORT_FORBIDDEN');
    } finally {
      await em.nativeUpdate(PrivateKeyEntity, { id: privateKeyId }, { exportable: true });
    }
    t.is(await ctx.db.em().fork().count(AuditEventEntity, { action: 'key.exported', targetId: privateKeyId }), 1);
  }
);

test.serial('D4 a certificate imported without its key has no manual package (CF_CONFLICT)', async (t) => {
  const { tc, fx } = t.context;
  const ctx = tc.controller.ctx;
  const noKey = await importCertificate(
    ctx,
    { file: readFixture(fx.rsa.leaf) },
    { mode: 'monitored', name: 'manual-package-no-key' },
    'test'
  );
  const err = await t.throwsAsync(
    exportManualPackage(
      ctx,
      { certificateId: noKey.certificate.id, serverType: 'nginx', password: PACKAGE_PASSWORD },
      'user:alice'
    )
  );
  t.is((err as { code?: string }).code, 'CF_CONFLICT');
});

test.serial(
  'D4 POST /api/v1/certificates/:id/manual-package: login password re-entry, then application/zip',
  async (t) => {
    const { post, certificateId } = t.context;
    const url = `/api/v1/certificates/${certificateId}/manual-package`;
    const wrongLogin = await post(url, {
      serverType: 'nginx',
      passphrase: PACKAGE_PASSWORD,
      password: 'not my password',
    });
    t.is(wrongLogin.status, 401, wrongLogin.body.toString());
    const shortPass = await post(url, { serverType: 'nginx', passphrase: 'short', password: ADMIN_PASSWORD });
    t.is(shortPass.status, 400, shortPass.body.toString());
    t.is((JSON.parse(shortPass.body.toString()) as { error: { code: string } }).error.code, 'CF_VALIDATION');
    const badType = await post(url, { serverType: 'lighttpd', passphrase: PACKAGE_PASSWORD, password: ADMIN_PASSWORD });
    t.is(badType.status, 400);
    const unknown = await post(`/api/v1/certificates/${crypto.randomUUID()}/manual-package`, {
      serverType: 'nginx',
      passphrase: PACKAGE_PASSWORD,
      password: ADMIN_PASSWORD,
    });
    t.is(unknown.status, 404);

    const ok = await post(url, { serverType: 'haproxy', passphrase: PACKAGE_PASSWORD, password: ADMIN_PASSWORD });
    t.is(ok.status, 200, ok.body.toString());
    t.is(ok.headers['content-type'], 'application/zip');
    t.regex(String(ok.headers['content-disposition']), /^attachment; filename="[a-z0-9.-]+-haproxy-[0-9a-f]{8}\.zip"$/);
    t.is(ok.headers['cache-control'], 'no-store');
    checkPackage(t, ok.body);
    const readme = Buffer.from(unzipSync(ok.body)['README.txt']!).toString();
    t.regex(readme, /haproxy -c -f/);
  }
);

test.serial('D5 install request mail: steps, fingerprint, the package attached; never the password', async (t) => {
  const { tc, smtp, certificateId, leafSha256 } = t.context;
  const ctx = tc.controller.ctx;
  await saveSmtpSettings(
    ctx,
    {
      fromAddress: 'certfleet@example.test',
      fromName: 'CertFleet',
      host: smtp.host,
      port: smtp.port,
      security: smtp.mode,
      username: smtp.user,
      password: smtp.password,
      adminEmail: 'pki-admin@example.test',
      caPem: smtp.caPem,
    },
    'test'
  );
  const before = (await smtp.received()).length;
  const r = await sendInstallRequestMail(
    ctx,
    {
      certificateId,
      to: 'web-admin@example.test',
      serverType: 'nginx',
      serverName: 'web1.intra',
      attachPackage: { password: PACKAGE_PASSWORD },
    },
    'user:alice'
  );
  t.regex(r.packageFileName ?? '', /-nginx-[0-9a-f]{8}\.zip$/);
  const [mail] = (await smtp.waitForMail(before + 1, 15_000)).slice(before);
  const parsed = mail!.parsed;
  t.is(parsed.subject, '[CertFleet] Install request: manual-package-test on web1.intra');
  t.deepEqual(mail!.session.rcptTo, ['web-admin@example.test']);
  const body = parsed.text ?? '';
  t.regex(body, /nginx -t/);
  t.regex(body, /systemctl reload nginx/);
  t.true(body.includes(leafSha256) || body.toUpperCase().includes(leafSha256.toUpperCase()));
  t.true(body.includes(`The installation package is attached: ${r.packageFileName}`));
  t.is(parsed.attachments.length, 1);
  const att = parsed.attachments[0]!;
  t.is(att.filename, r.packageFileName ?? undefined);
  t.is(att.contentType, 'application/zip');
  checkPackage(t, att.content);
  t.false(mail!.raw.includes(PACKAGE_PASSWORD), 'the password is not in the mail');
  t.false(mail!.raw.includes(Buffer.from(PACKAGE_PASSWORD).toString('base64')));
  const logged = await ctx.db.em().fork().findOneOrFail(SentMailEntity, { id: r.sentMail.id });
  t.is(logged.template, 'install-request');
  t.false(JSON.stringify(logged).includes(PACKAGE_PASSWORD));
  const audit = await ctx.db
    .em()
    .fork()
    .find(AuditEventEntity, { action: 'deployment.install-requested', targetId: certificateId });
  t.is(audit.length, 1);
  t.like(audit[0]!.details, { packageAttached: true, serverType: 'nginx', serverName: 'web1.intra' });

  // without attachPackage: a link instead of the file, and no key export
  const exports = await ctx.db.em().fork().count(AuditEventEntity, { action: 'key.exported' });
  await sendInstallRequestMail(
    ctx,
    {
      certificateId,
      to: ['web-admin@example.test'],
      serverType: 'dovecot',
      packageUrl: 'https://certfleet.example.test/certificates/x',
    },
    'user:alice'
  );
  const [linked] = (await smtp.waitForMail(before + 2, 15_000)).slice(before + 1);
  t.is(linked!.parsed.attachments.length, 0);
  t.regex(linked!.parsed.text ?? '', /Download the installation package: https:\/\/certfleet\.example\.test/);
  t.regex(linked!.parsed.text ?? '', /doveconf -n/);
  t.is(await ctx.db.em().fork().count(AuditEventEntity, { action: 'key.exported' }), exports);
});

test.serial('D5 install notification mail: installed, verified, and failed with its reason', async (t) => {
  const { tc, smtp, leafSha256 } = t.context;
  const ctx = tc.controller.ctx;
  const base = {
    definitionName: 'manual-package-test',
    serverName: 'web1.intra',
    commonName: 'leaf.example.com',
    installedAt: new Date(),
    method: 'manual' as const,
    sha256: leafSha256,
    notAfter: new Date(Date.now() + 86_400_000),
  };
  const before = (await smtp.received()).length;
  await sendMail(ctx, { template: 'install-notification', to: 'web-admin@example.test', data: base });
  await sendMail(ctx, {
    template: 'install-notification',
    to: 'web-admin@example.test',
    data: { ...base, method: 'agent', outcome: 'verified', installedBy: 'agent web1' },
  });
  await sendMail(ctx, {
    template: 'install-notification',
    to: 'web-admin@example.test',
    data: { ...base, method: 'agent', outcome: 'failed', reason: 'nginx -t: unknown directive "ssl_certificat"' },
  });
  const mails = (await smtp.waitForMail(before + 3, 15_000)).slice(before).map((m) => m.parsed);
  t.deepEqual(
    mails.map((m) => m.subject),
    [
      '[CertFleet] Certificate installed: manual-package-test on web1.intra',
      '[CertFleet] Certificate installed and verified: manual-package-test on web1.intra',
      '[CertFleet] Certificate installation FAILED: manual-package-test on web1.intra',
    ]
  );
  t.regex(mails[1]?.text ?? '', /verified: the server serves it/);
  t.regex(mails[2]?.text ?? '', /unknown directive "ssl_certificat"/);
  const noReason = await t.throwsAsync(
    sendMail(ctx, { template: 'install-notification', data: { ...base, outcome: 'failed' } })
  );
  t.is((noReason as { code?: string }).code, 'CF_VALIDATION');
});

test.serial(
  'D5 install request over the API: attaching the package needs the caller password re-entered',
  async (t) => {
    const { tc, smtp, certificateId } = t.context;
    const token = await tc.adminToken();
    const body = {
      to: 'ops@example.test',
      serverType: 'haproxy',
      serverName: 'lb1.intra',
      attachPackage: { password: PACKAGE_PASSWORD },
    };
    const refused = await tc.request('POST', `/api/v1/certificates/${certificateId}/install-request`, body, token);
    t.is(refused.status, 401, JSON.stringify(refused.json));
    const before = (await smtp.received()).length;
    const sent = await tc.request(
      'POST',
      `/api/v1/certificates/${certificateId}/install-request`,
      { ...body, password: ADMIN_PASSWORD },
      token
    );
    t.is(sent.status, 200, JSON.stringify(sent.json));
    const [mail] = (await smtp.waitForMail(before + 1, 15_000)).slice(before);
    t.deepEqual(mail!.session.rcptTo, ['ops@example.test']);
    t.is(mail!.parsed.attachments.length, 1);
    t.regex(mail!.parsed.text ?? '', /haproxy -c/);
    t.false(mail!.raw.includes(PACKAGE_PASSWORD));
  }
);
