import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import anyTest, { type TestFn } from 'ava';
import { ADMIN_PASSWORD, startTestController, type TestController } from '../../_helpers/controller';
import { call, codeOf, cookieLogin, type CallOptions } from '../../_helpers/https-client';

/**
 * SPEC U4 against a real controller: client certificates issued by the controller's built-in CA (PKCS#12 from
 * POST /api/v1/ca/client-certificates) are presented by Node's HTTPS client in the TLS handshake. With
 * client-certificate login on, a login without an allowed, valid, unrevoked certificate is refused even with the
 * right password; enabling it needs an allowed certificate on the enabling request (or force).
 */
interface IssuedCert {
  pfx: Buffer;
  sha1: string;
  sha256: string;
  serial: string;
}
const test = anyTest as TestFn<{ tc: TestController; admin: string; allowed: IssuedCert; other: IssuedCert }>;

const root = path.resolve(__dirname, '../../..');
const run = promisify(execFile);
const P12_PASSWORD = 'p12 transport password';

async function issue(tc: TestController, admin: string): Promise<IssuedCert> {
  const r = await call(tc, 'POST', '/api/v1/ca/client-certificates', {
    token: admin,
    body: { username: 'admin', password: P12_PASSWORD, validityDays: 30 },
  });
  if (r.status !== 200) throw new Error(`client certificate: ${r.status} ${r.raw.toString()}`);
  return {
    pfx: r.raw,
    sha1: String(r.headers['x-certfleet-sha1']),
    sha256: String(r.headers['x-certfleet-sha256']),
    serial: String(r.headers['x-certfleet-serial']),
  };
}

const withCert = (c: IssuedCert): CallOptions => ({ pfx: c.pfx, passphrase: P12_PASSWORD });
const loginBody = (password = ADMIN_PASSWORD) => ({ username: 'admin', password });

test.before(async (t) => {
  const tc = await startTestController();
  t.context.tc = tc;
  t.context.admin = await tc.adminToken();
  t.context.allowed = await issue(tc, t.context.admin);
  t.context.other = await issue(tc, t.context.admin);
});
test.after.always(async (t) => {
  await t.context.tc?.close();
});

function putSettings(t: { context: { tc: TestController; admin: string } }, body: unknown, o: CallOptions = {}) {
  return call(t.context.tc, 'PUT', '/api/v1/settings/client-cert-login', { ...o, token: t.context.admin, body });
}

test.serial('U4 the controller sees the presented certificate; settings are off by default', async (t) => {
  const { tc, admin, allowed } = t.context;
  const none = await call(tc, 'GET', '/api/v1/settings/client-cert-login', { token: admin });
  t.is(none.status, 200);
  t.like(none.json, { enabled: false, thumbprints: [], presentedCertificate: null });
  const seen = await call(tc, 'GET', '/api/v1/settings/client-cert-login', { token: admin, ...withCert(allowed) });
  const presented = (seen.json as { presentedCertificate: { sha1: string; sha256: string; subject: string } })
    .presentedCertificate;
  t.is(presented.sha256, allowed.sha256);
  t.is(presented.sha1, allowed.sha1);
  t.regex(presented.subject, /CN=admin/);
  // Off: login without a certificate works.
  t.is((await call(tc, 'POST', '/api/v1/auth/login', { body: loginBody() })).status, 200);
});

test.serial(
  'U4 bad thumbprints are refused precisely; enabling without an allowed certificate is refused',
  async (t) => {
    const { allowed, other } = t.context;
    const bad = await putSettings(t, { enabled: true, thumbprints: ['abc', allowed.sha256] });
    t.is(codeOf(bad), 'CF_VALIDATION');
    t.regex((bad.json as { error: { message: string } }).error.message, /thumbprints\.0: .*SHA-1 \(40 hex digits\)/);
    const empty = await putSettings(t, { enabled: true, thumbprints: [] });
    t.is(codeOf(empty), 'CF_VALIDATION');

    const noCert = await putSettings(t, { enabled: true, thumbprints: [allowed.sha256] });
    t.is(noCert.status, 409);
    t.regex((noCert.json as { error: { message: string } }).error.message, /would lock you out.*no client certificate/);
    const wrongCert = await putSettings(t, { enabled: true, thumbprints: [allowed.sha256] }, withCert(other));
    t.is(wrongCert.status, 409);
    t.like(wrongCert.json, { error: { details: { refusal: 'not-allowed' } } });
    const still = await call(t.context.tc, 'GET', '/api/v1/settings/client-cert-login', { token: t.context.admin });
    t.like(still.json, { enabled: false });
  }
);

test.serial('U4 with client-certificate login on, only an allowed certificate plus the password logs in', async (t) => {
  const { tc, admin, allowed, other } = t.context;
  const on = await putSettings(t, { enabled: true, thumbprints: [allowed.sha256] }, withCert(allowed));
  t.is(on.status, 200);
  t.deepEqual(on.json, { enabled: true, thumbprints: [allowed.sha256] });

  // No certificate: refused, bearer and cookie alike, even with the right password.
  for (const body of [loginBody(), { ...loginBody(), cookie: true }]) {
    const r = await call(tc, 'POST', '/api/v1/auth/login', { body });
    t.is(r.status, 403);
    t.is(codeOf(r), 'CF_CLIENT_CERT_REQUIRED');
    t.like(r.json, { error: { details: { reason: 'no-certificate' } } });
    t.deepEqual(r.setCookie, []);
  }
  // A valid certificate of the same CA that is not on the list: refused.
  const notListed = await call(tc, 'POST', '/api/v1/auth/login', { body: loginBody(), ...withCert(other) });
  t.is(codeOf(notListed), 'CF_CLIENT_CERT_REQUIRED');
  t.like(notListed.json, { error: { details: { reason: 'not-allowed' } } });
  // The allowed certificate with a wrong password: still the password error.
  const wrongPassword = await call(tc, 'POST', '/api/v1/auth/login', {
    body: loginBody('wrong password'),
    ...withCert(allowed),
  });
  t.is(wrongPassword.status, 401);
  // The allowed certificate and the password: logged in (bearer and cookie).
  const ok = await call(tc, 'POST', '/api/v1/auth/login', { body: loginBody(), ...withCert(allowed) });
  t.is(ok.status, 200);
  const token = (ok.json as { token: string }).token;
  t.is((await call(tc, 'GET', '/api/v1/definitions', { token })).status, 200);
  const cookie = await cookieLogin(tc, 'admin', ADMIN_PASSWORD, withCert(allowed));
  t.is((await call(tc, 'GET', '/api/v1/auth/me', { cookie: cookie.session })).status, 200);
  // Sessions already open keep working: the certificate is checked at login.
  t.is((await call(tc, 'GET', '/api/v1/definitions', { token: admin })).status, 200);
});

test.serial('U4 SHA-1 thumbprints (with colons, any case) are accepted too', async (t) => {
  const { tc, allowed, other } = t.context;
  const colons = other.sha1.toUpperCase().match(/../g)!.join(':');
  const r = await putSettings(t, { enabled: true, thumbprints: [colons, allowed.sha256] }, withCert(allowed));
  t.is(r.status, 200);
  t.deepEqual((r.json as { thumbprints: string[] }).thumbprints, [other.sha1, allowed.sha256]);
  t.is((await call(tc, 'POST', '/api/v1/auth/login', { body: loginBody(), ...withCert(other) })).status, 200);
});

test.serial('U4 a certificate the built-in CA revoked no longer logs in', async (t) => {
  const { tc, admin, other } = t.context;
  const revoked = await call(tc, 'POST', '/api/v1/ca/revoke', { token: admin, body: { serial: other.serial } });
  t.true(revoked.status === 200 || revoked.status === 204, `revoke: ${revoked.status}`);
  const r = await call(tc, 'POST', '/api/v1/auth/login', { body: loginBody(), ...withCert(other) });
  t.is(codeOf(r), 'CF_CLIENT_CERT_REQUIRED');
  t.like(r.json, { error: { details: { reason: 'revoked' } } });
});

test.serial('U4 `certfleet access client-cert-login disable` turns it off for a locked-out admin', async (t) => {
  const { tc } = t.context;
  const env = {
    ...process.env,
    DATABASE_URL: tc.databaseUrl,
    CERTFLEET_HOME: tc.home,
    CERTFLEET_LOG_LEVEL: 'silent',
  };
  const r = await run(process.execPath, ['bin/certfleet.js', 'access', 'client-cert-login', 'disable', '--json'], {
    cwd: root,
    env,
    timeout: 120_000,
  });
  t.like(JSON.parse(r.stdout), { enabled: false });
  let status = 0;
  for (let i = 0; i < 40 && status !== 200; i++) {
    status = (await call(tc, 'POST', '/api/v1/auth/login', { body: loginBody() })).status;
    if (status !== 200) await new Promise((res) => setTimeout(res, 100));
  }
  t.is(status, 200, 'login without a certificate works again within seconds');
});

test.serial('U5 client-certificate settings changes and refused logins are audited', async (t) => {
  const { tc, admin } = t.context;
  const r = await call(tc, 'GET', '/api/v1/audit?limit=300', { token: admin });
  const items = (r.json as { items: Array<{ action: string; actor: string; details: Record<string, unknown> }> }).items;
  t.true(items.some((i) => i.action === 'settings.client_cert_login.updated' && i.details.enabled === true));
  t.true(items.some((i) => i.action === 'settings.client_cert_login.updated' && i.actor.startsWith('cli:')));
  for (const reason of ['no-certificate', 'not-allowed', 'revoked']) {
    t.true(
      items.some(
        (i) =>
          i.action === 'auth.login_failed' &&
          i.details.reason === 'client-certificate' &&
          i.details.certificate === reason
      ),
      reason
    );
  }
});
