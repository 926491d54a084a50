import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import anyTest, { type TestFn } from 'ava';
import { startTestController, type TestController } from '../../_helpers/controller';

const test = anyTest as TestFn<{ tc: TestController }>;

test.before(async (t) => {
  t.context.tc = await startTestController();
});
test.after.always(async (t) => {
  await t.context.tc?.close();
});

test('X1 first start creates the master key file with mode 0600', (t) => {
  const file = path.join(t.context.tc.home, 'master.key');
  const st = fs.statSync(file);
  t.is(st.mode & 0o777, 0o600);
  t.is(Buffer.from(fs.readFileSync(file, 'utf8').trim(), 'base64').length, 32);
});

test('C1 first start creates a root CA with a unique timestamped DN', async (t) => {
  const { tc } = t.context;
  const token = await tc.adminToken();
  const res = await tc.request('GET', '/api/v1/ca', undefined, token);
  t.is(res.status, 200);
  const items = (res.json as { items: Array<{ subject: string; status: string; certificatePem: string }> }).items;
  t.is(items.length, 1);
  t.regex(items[0]!.subject, /CN=CertFleet Root CA \d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z/);
  const ca = new crypto.X509Certificate(items[0]!.certificatePem);
  t.true(ca.ca);
  t.false('privateKeyId' in items[0]!, 'the CA listing does not expose key references');
});

test('U3 the console serves HTTPS with a certificate issued by the built-in CA', async (t) => {
  const { tc } = t.context;
  const cert = await new Promise<tls.PeerCertificate>((resolve, reject) => {
    const s = tls.connect(
      { host: '127.0.0.1', port: tc.controller.port, servername: 'localhost', ca: tc.controller.caCertificatePem },
      () => {
        resolve(s.getPeerCertificate());
        s.end();
      }
    );
    s.on('error', reject);
  });
  t.true(cert.subjectaltname?.includes('DNS:localhost'));
  t.true(cert.subjectaltname?.includes('IP Address:127.0.0.1'));
  const res = await tc.request('GET', '/healthz');
  t.is(res.status, 200);
  t.deepEqual(res.json, { status: 'ok' });
  t.is((await tc.request('GET', '/readyz')).status, 200);
});

test('U3 the console certificate belongs to a "this controller" definition', async (t) => {
  const { tc } = t.context;
  const token = await tc.adminToken();
  const defs = (await tc.request('GET', '/api/v1/definitions?q=console', undefined, token)).json as {
    items: Array<{ id: string; deployTargets: Array<{ serverType: string }> }>;
  };
  t.is(defs.items.length, 1);
  t.is(defs.items[0]!.deployTargets[0]!.serverType, 'this-controller');
  const certs = (
    await tc.request('GET', `/api/v1/certificates?definitionId=${defs.items[0]!.id}&current=true`, undefined, token)
  ).json as { items: Array<{ sha256: string; privateKeyId: string }> };
  t.is(certs.items.length, 1);
  t.truthy(certs.items[0]!.privateKeyId);
});

test('U1 the generated admin password must be changed before anything else', async (t) => {
  const { tc } = t.context;
  const initial = tc.controller.initialAdmin!;
  t.true(initial.password.length >= 16);
  const login = await tc.request('POST', '/api/v1/auth/login', { username: 'admin', password: initial.password });
  if (login.status !== 200) {
    // adminToken() in another test may already have changed it: the old password must then be refused.
    t.is(login.status, 401);
    return;
  }
  const body = login.json as { token: string; user: { mustChangePassword: boolean } };
  t.true(body.user.mustChangePassword);
  const blocked = await tc.request('GET', '/api/v1/definitions', undefined, body.token);
  t.is(blocked.status, 403);
  t.is((blocked.json as { error: { code: string } }).error.code, 'CF_FORBIDDEN');
  t.is((await tc.request('GET', '/api/v1/auth/me', undefined, body.token)).status, 200);
});

test('X3 the OpenAPI document lists the REST API', async (t) => {
  const res = await t.context.tc.request('GET', '/api/openapi.json');
  t.is(res.status, 200);
  const doc = res.json as { openapi: string; paths: Record<string, Record<string, unknown>> };
  t.is(doc.openapi, '3.1.0');
  for (const p of [
    '/api/v1/definitions',
    '/api/v1/definitions/{id}/clone',
    '/api/v1/imports',
    '/api/v1/private-keys/{id}/export',
    '/api/v1/definitions/{id}/documents',
  ]) {
    t.truthy(doc.paths[p], `OpenAPI has ${p}`);
  }
  t.truthy(doc.paths['/api/v1/imports']!.post);
});

test('X3 API errors have the typed shape and unauthenticated calls are refused', async (t) => {
  const { tc } = t.context;
  const res = await tc.request('GET', '/api/v1/definitions');
  t.is(res.status, 401);
  t.is((res.json as { error: { code: string } }).error.code, 'CF_UNAUTHORIZED');
  const bad = await tc.request('POST', '/api/v1/auth/login', { username: 'admin', password: 'wrong' });
  t.is(bad.status, 401);
});
