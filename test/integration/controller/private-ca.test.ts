/**
 * The built-in private CA end to end on a real controller (HTTPS, PostgreSQL): issuance through the `internal-ca`
 * issuer, revocation, the public CRL checked with openssl, client PKCS#12, downloads, rollover, subordinate mode
 * and the `certfleet ca` CLI. Tests run serially: they share one controller and build on each other's CAs.
 */
import { execFile, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import anyTest, { type ExecutionContext, type TestFn } from 'ava';
import { generateKeyPair, parseMaterial } from '@certfleet/shared';
import { buildCli } from '../../../controller/src/cli/main';
import { internalCaIssuer } from '../../../controller/src/issuers/internal-ca-issuer';
import { createCsr } from '../../../controller/src/issuers/internal-ca';
import { startTestController, type TestController } from '../../_helpers/controller';
import { assertCommands, testNeeding } from '../../_helpers/needs';

const execFileAsync = promisify(execFile);
const root = path.resolve(__dirname, '../../..');

interface Ctx {
  tc: TestController;
  token: string;
  dir: string;
  /** The root CA created at first start. */
  firstCaId: string;
  revokedSerial: string;
}
const test = testNeeding<Ctx>(['openssl']);
const plainTest = anyTest as TestFn<Ctx>;

plainTest.before(async (t) => {
  const t0 = Date.now();
  const tc = await startTestController();
  const token = await tc.adminToken();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certfleet-private-ca-'));
  const active = await api(tc, 'GET', '/api/v1/ca/active', undefined, token);
  t.context = { tc, token, dir, firstCaId: (active.json as { id: string }).id, revokedSerial: '' };
  t.log(`controller started in ${Date.now() - t0} ms`);
});
plainTest.after.always(async (t) => {
  await t.context.tc?.close();
  if (t.context.dir) fs.rmSync(t.context.dir, { recursive: true, force: true });
});

interface Response {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  json: unknown;
}
/** HTTPS to the live controller, binary-safe, trusting only its built-in CA. */
function api(
  tc: TestController,
  method: string,
  url: string,
  body?: unknown,
  token?: string,
  headers: Record<string, string> = {}
): Promise<Response> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = https.request(
      `${tc.controller.url}${url}`,
      {
        method,
        ca: tc.controller.caCertificatePem,
        servername: 'localhost',
        headers: {
          ...(data ? { 'content-type': 'application/json', 'content-length': data.length } : {}),
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const buf = Buffer.concat(chunks);
          let json: unknown = null;
          try {
            json = JSON.parse(buf.toString());
          } catch {
            /* binary or text */
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: buf, json });
        });
      }
    );
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

let fileNo = 0;
function file(t: ExecutionContext<Ctx>, name: string, contents: string | Buffer): string {
  const p = path.join(t.context.dir, `${++fileNo}-${name}`);
  fs.writeFileSync(p, contents);
  return p;
}
async function openssl(...args: string[]): Promise<{ out: string; code: number }> {
  try {
    const { stdout, stderr } = await execFileAsync('openssl', args);
    return { out: stdout + stderr, code: 0 };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; code?: number };
    return { out: `${e.stdout ?? ''}${e.stderr ?? ''}`, code: e.code ?? 1 };
  }
}

/** Issues a server certificate through the `internal-ca` issuer plugin, as the acquisition process does. */
async function issueViaIssuer(
  t: ExecutionContext<Ctx>,
  cn: string
): Promise<{ leafPem: string; chainPem: string[]; serial: string }> {
  const key = await generateKeyPair('EC-P256');
  const csrPem = createCsr({ privateKeyPem: key.privateKeyPem, subject: { commonName: 'ignored.example' } });
  const issuer = internalCaIssuer.create({ validityDays: 90 }, { ctx: t.context.tc.controller.ctx });
  const out = await issuer.issue(
    {
      requestId: crypto.randomUUID(),
      definitionId: crypto.randomUUID(),
      csrPem,
      subject: { commonName: cn },
      sans: [{ type: 'dns', value: cn }],
      keySpec: 'EC-P256',
      validityDays: 365,
    },
    new AbortController().signal
  );
  if (out.kind !== 'issued') throw new Error('internal-ca must issue synchronously');
  return { leafPem: out.leafPem, chainPem: out.chainPem, serial: new crypto.X509Certificate(out.leafPem).serialNumber };
}

async function fetchCrl(t: ExecutionContext<Ctx>, caId: string): Promise<{ der: Buffer; res: Response; text: string }> {
  const res = await api(t.context.tc, 'GET', `/pki/${caId}/crl`); // no token
  t.is(res.status, 200);
  const caPem = (await api(t.context.tc, 'GET', `/pki/${caId}/ca.pem`)).body;
  const r = await openssl(
    'crl',
    '-inform',
    'DER',
    '-in',
    file(t, 'crl.der', res.body),
    '-CAfile',
    file(t, 'ca.pem', caPem),
    '-noout',
    '-text'
  );
  t.is(r.code, 0, r.out);
  t.regex(r.out, /verify OK/);
  return { der: res.body, res, text: r.out };
}

test.serial(
  'C2 C3 the internal-ca issuer signs a CSR with the active CA, adds its extensions, records the issuance',
  async (t) => {
    assertCommands(['openssl']);
    const { tc, token, firstCaId } = t.context;
    const ext = await api(
      tc,
      'PUT',
      '/api/v1/ca/active/extensions',
      {
        crlDistributionPoint: 'http://pki.example.test/pki/{caId}/crl',
        caIssuersUrl: 'http://pki.example.test/pki/{caId}/ca.crt',
      },
      token
    );
    t.is(ext.status, 200, ext.body.toString());
    t.is(
      (ext.json as { extensions: { crlDistributionPoint: string } }).extensions.crlDistributionPoint,
      'http://pki.example.test/pki/{caId}/crl'
    );
    const bad = await api(tc, 'PUT', '/api/v1/ca/active/extensions', { ocspUrl: 'not a url' }, token);
    t.is(bad.status, 400);

    const t0 = performance.now();
    const issued = await issueViaIssuer(t, 'app.example.test');
    t.log(`issuer.issue (CSR check + signing + ca_issuances row): ${(performance.now() - t0).toFixed(0)} ms`);
    const text = (await openssl('x509', '-in', file(t, 'leaf.pem', issued.leafPem), '-noout', '-text')).out;
    t.regex(text, new RegExp(`URI:http://pki\\.example\\.test/pki/${firstCaId}/crl`));
    t.regex(text, new RegExp(`CA Issuers - URI:http://pki\\.example\\.test/pki/${firstCaId}/ca\\.crt`));
    t.regex(text, /Subject: CN = app\.example\.test\s*\n/);
    t.notRegex(text, /ignored\.example/);
    t.is(issued.chainPem.length, 1);
    t.true(new crypto.X509Certificate(issued.leafPem).checkIssued(new crypto.X509Certificate(issued.chainPem[0]!)));

    const list = await api(tc, 'GET', `/api/v1/ca/${firstCaId}/issuances?kind=server`, undefined, token);
    const items = (list.json as { items: Array<{ serial: string; subject: string; certificateId: string | null }> })
      .items;
    t.true(items.some((i) => i.serial === issued.serial && i.subject === 'CN=app.example.test'));
    t.true(
      items.some((i) => i.certificateId !== null),
      'the console certificate from bootstrap is in the register (U3)'
    );

    // A mismatching key spec is a typed, non-retryable error.
    const key = await generateKeyPair('RSA-2048');
    const err = await t.throwsAsync(
      internalCaIssuer.create({}, { ctx: tc.controller.ctx }).issue(
        {
          requestId: 'r',
          definitionId: 'd',
          csrPem: createCsr({ privateKeyPem: key.privateKeyPem, subject: { commonName: 'x' } }),
          subject: { commonName: 'x.example' },
          sans: [{ type: 'dns', value: 'x.example' }],
          keySpec: 'EC-P256',
          validityDays: 30,
        },
        new AbortController().signal
      )
    );
    t.is((err as { code?: string }).code, 'CF_CSR_INVALID');
    t.false((err as { retryable?: boolean }).retryable);
  }
);

test.serial(
  'C4 a revoked certificate appears in the CRL fetched over HTTPS without auth; openssl crl and verify agree',
  async (t) => {
    assertCommands(['openssl']);
    const { tc, token, firstCaId } = t.context;
    const a = await issueViaIssuer(t, 'revoked.example.test');
    const b = await issueViaIssuer(t, 'kept.example.test');

    t.is(
      (await api(tc, 'POST', '/api/v1/ca/revoke', { serial: a.serial, reason: 'keyCompromise' })).status,
      401,
      'needs a session'
    );
    const colons = a.serial.toLowerCase().match(/../g)!.join(':');
    const r1 = await api(tc, 'POST', '/api/v1/ca/revoke', { serial: colons, reason: 'keyCompromise' }, token);
    t.is(r1.status, 200, r1.body.toString());
    t.false((r1.json as { alreadyRevoked: boolean }).alreadyRevoked);
    const r2 = await api(tc, 'POST', '/api/v1/ca/revoke', { serial: a.serial, reason: 'superseded' }, token);
    t.true((r2.json as { alreadyRevoked: boolean }).alreadyRevoked, 'idempotent');
    t.is(
      (r2.json as { issuance: { revocationReason: string } }).issuance.revocationReason,
      'keyCompromise',
      'first reason kept'
    );
    t.is(
      (await api(tc, 'POST', '/api/v1/ca/revoke', { serial: 'ABCDEF', reason: 'keyCompromise' }, token)).status,
      404
    );
    t.context.revokedSerial = a.serial;

    const t0 = performance.now();
    const crl = await fetchCrl(t, firstCaId);
    t.log(`first CRL fetch (generate + sign + store): ${(performance.now() - t0).toFixed(0)} ms`);
    t.is(crl.res.headers['content-type'], 'application/pkix-crl');
    // HTTP caching: one hour, never past the CRL's nextUpdate (a week ahead).
    const maxAge = Number(/^public, max-age=(\d+), no-transform$/.exec(String(crl.res.headers['cache-control']))?.[1]);
    t.true(maxAge > 3500 && maxAge <= 3600, `max-age ${maxAge}`);
    const nextUpdate = new Date(/Next Update: ([^\n]+)/.exec(crl.text)![1]!.replace(/\s+/g, ' ')).getTime();
    t.true(nextUpdate - Date.now() > 6 * 86_400_000, 'nextUpdate a week ahead');
    const expires = new Date(String(crl.res.headers.expires)).getTime();
    t.true(expires <= nextUpdate && Math.abs(expires - (Date.now() + maxAge * 1000)) < 5000);
    t.true(new Date(String(crl.res.headers['last-modified'])).getTime() <= Date.now());
    t.regex(
      crl.text,
      new RegExp(
        `Serial Number: ${a.serial}\\s*\\n\\s*Revocation Date: [^\\n]+\\n\\s*CRL entry extensions:\\s*\\n\\s*X509v3 CRL Reason Code:\\s*\\n\\s*Key Compromise`
      )
    );
    t.false(crl.text.includes(b.serial));

    const caPem = (await api(tc, 'GET', `/pki/${firstCaId}/ca.pem`)).body.toString();
    const caFile = file(t, 'ca.pem', caPem);
    const crlPem = file(t, 'crl.pem', (await openssl('crl', '-inform', 'DER', '-in', file(t, 'c.der', crl.der))).out);
    const bad = await openssl(
      'verify',
      '-crl_check',
      '-CRLfile',
      crlPem,
      '-CAfile',
      caFile,
      file(t, 'a.pem', a.leafPem)
    );
    t.not(bad.code, 0);
    t.regex(bad.out, /certificate revoked/);
    const good = await openssl(
      'verify',
      '-crl_check',
      '-CRLfile',
      crlPem,
      '-CAfile',
      caFile,
      file(t, 'b.pem', b.leafPem)
    );
    t.is(good.code, 0, good.out);

    // Cached: the same CRL again (same number and bytes), and a conditional GET gets 304.
    const again = await api(tc, 'GET', `/pki/${firstCaId}/crl`);
    t.true(again.body.equals(crl.der));
    const etag = String(crl.res.headers.etag);
    t.is((await api(tc, 'GET', `/pki/${firstCaId}/crl`, undefined, undefined, { 'if-none-match': etag })).status, 304);

    // Another revocation rebuilds it with a higher CRL number.
    const number = Number(/CRL Number:\s*\n\s*(\d+)/.exec(crl.text)![1]);
    await api(tc, 'POST', '/api/v1/ca/revoke', { serial: b.serial, reason: 'cessationOfOperation' }, token);
    const crl2 = await fetchCrl(t, firstCaId);
    t.is(Number(/CRL Number:\s*\n\s*(\d+)/.exec(crl2.text)![1]), number + 1);
    t.regex(crl2.text, new RegExp(`Serial Number: ${b.serial}[\\s\\S]{0,200}Cessation Of Operation`));

    const audit = await api(tc, 'GET', '/api/v1/audit?limit=50', undefined, token);
    const revocations = (audit.json as { items: Array<{ action: string }> }).items.filter(
      (e) => e.action === 'ca.certificate-revoked'
    );
    t.is(revocations.length, 2, 'audited once per actual revocation');
    t.is((await api(tc, 'GET', '/pki/00000000-0000-4000-8000-000000000000/crl')).status, 404);
  }
);

test.serial('C5 a console user gets a client certificate as PKCS#12 that openssl opens without -legacy', async (t) => {
  assertCommands(['openssl']);
  const { tc, token, firstCaId } = t.context;
  const password = 'pfx password 123';
  const t0 = performance.now();
  const res = await api(
    tc,
    'POST',
    '/api/v1/ca/client-certificates',
    { username: 'admin', password, validityDays: 30 },
    token
  );
  t.log(`client certificate + PKCS#12 over HTTPS: ${(performance.now() - t0).toFixed(0)} ms`);
  t.is(res.status, 200, res.body.toString());
  t.is(res.headers['content-type'], 'application/x-pkcs12');
  t.regex(String(res.headers['content-disposition']), /attachment; filename="admin\.p12"/);
  const p12 = file(t, 'admin.p12', res.body);
  const opened = await openssl('pkcs12', '-in', p12, '-passin', `pass:${password}`, '-noout');
  t.is(opened.code, 0, opened.out);
  const info = await openssl('pkcs12', '-in', p12, '-passin', `pass:${password}`, '-info', '-noout');
  t.log(info.out.trim());
  t.regex(info.out, /MAC: sha256/);
  t.regex(info.out, /PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC, Iteration \d+, PRF hmacWithSHA256/);
  t.regex(info.out, /Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration \d+, PRF hmacWithSHA256/);

  const parsed = await parseMaterial(res.body, { password });
  t.is(parsed.certificates[0]!.subject, 'CN=admin');
  t.true(parsed.privateKey?.matchesCertificate);
  t.is(parsed.certificates[0]!.sha256, String(res.headers['x-certfleet-sha256']));

  const list = await api(tc, 'GET', `/api/v1/ca/${firstCaId}/issuances?kind=client`, undefined, token);
  const items = (list.json as { items: Array<{ username: string; sha256: string }> }).items;
  t.true(items.some((i) => i.username === 'admin' && i.sha256 === parsed.certificates[0]!.sha256));
  const unknown = await api(tc, 'POST', '/api/v1/ca/client-certificates', { username: 'nobody', password }, token);
  t.is(unknown.status, 404);
  const short = await api(
    tc,
    'POST',
    '/api/v1/ca/client-certificates',
    { username: 'admin', password: 'short' },
    token
  );
  t.is(short.status, 400);
});

test.serial('C6 the CA certificate downloads as PEM and DER without auth, and a trust installer script', async (t) => {
  const { tc, token, firstCaId } = t.context;
  const pem = await api(tc, 'GET', `/pki/${firstCaId}/ca.pem`);
  const der = await api(tc, 'GET', `/pki/${firstCaId}/ca.crt`);
  t.is(pem.status, 200);
  t.is(der.headers['content-type'], 'application/pkix-cert');
  t.true(new crypto.X509Certificate(pem.body).raw.equals(der.body));
  t.regex(String(der.headers['cache-control']), /^public, max-age=\d+/);
  const script = await api(tc, 'GET', `/api/v1/ca/${firstCaId}/trust-installer.sh`, undefined, token);
  t.is(script.status, 200);
  t.regex(String(script.headers['content-type']), /text\/x-shellscript/);
  t.true(script.body.toString().includes(pem.body.toString().trim()));
  const check = spawn('sh', ['-n']);
  check.stdin.end(script.body);
  t.is(await new Promise((resolve) => check.on('close', resolve)), 0);
  t.is((await api(tc, 'GET', `/api/v1/ca/${firstCaId}/trust-installer.sh`)).status, 401);
});

test.serial(
  'C7 rollover: a new root with a new DN issues; the old CA is retired, listed, and its CRL still served',
  async (t) => {
    assertCommands(['openssl']);
    const { tc, token, firstCaId, revokedSerial } = t.context;
    const res = await api(tc, 'POST', '/api/v1/ca/rollover', {}, token);
    t.is(res.status, 201, res.body.toString());
    const fresh = res.json as { id: string; subject: string; status: string; extensions: Record<string, string> };
    t.is(fresh.status, 'active');
    t.not(fresh.id, firstCaId);
    t.deepEqual(
      fresh.extensions.crlDistributionPoint,
      'http://pki.example.test/pki/{caId}/crl',
      'extensions carried over'
    );

    const list = await api(tc, 'GET', '/api/v1/ca', undefined, token);
    const items = (list.json as { items: Array<{ id: string; status: string; subject: string }> }).items;
    const old = items.find((i) => i.id === firstCaId)!;
    t.is(old.status, 'retired');
    t.not(old.subject, fresh.subject);
    t.regex(fresh.subject, /^CN=CertFleet Root CA \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ, O=CertFleet$/);

    const oldCrl = await fetchCrl(t, firstCaId);
    t.true(oldCrl.text.includes(revokedSerial), 'the retired CA keeps publishing its revocations');

    const issued = await issueViaIssuer(t, 'after-rollover.example.test');
    const newCa = new crypto.X509Certificate(issued.chainPem[0]!);
    t.is(newCa.subject.split('\n').reverse().join(', '), fresh.subject);
    const text = (await openssl('x509', '-in', file(t, 'n.pem', issued.leafPem), '-noout', '-text')).out;
    t.regex(text, new RegExp(`/pki/${fresh.id}/crl`));
    const newCrl = await fetchCrl(t, fresh.id);
    t.regex(newCrl.text, /No Revoked Certificates/);
  }
);

test.serial(
  'C1 subordinate mode over the API: CSR out, parent-issued certificate in (validated), then it issues',
  async (t) => {
    assertCommands(['openssl']);
    const { tc, token } = t.context;
    const created = await api(
      tc,
      'POST',
      '/api/v1/ca/subordinates',
      { name: 'CertFleet Issuing CA', keySpec: 'EC-P256' },
      token
    );
    t.is(created.status, 201, created.body.toString());
    const { ca, csrPem } = created.json as { ca: { id: string; status: string }; csrPem: string };
    t.is(ca.status, 'pending');
    t.is((await api(tc, 'GET', `/pki/${ca.id}/crl`)).status, 409, 'no CRL before its certificate');
    const issuerRefuses = await t.throwsAsync(
      internalCaIssuer.create({ caId: ca.id }, { ctx: tc.controller.ctx }).issue(
        {
          requestId: 'r',
          definitionId: 'd',
          csrPem,
          subject: { commonName: 'x' },
          sans: [{ type: 'dns', value: 'x.example' }],
          keySpec: 'EC-P256',
          validityDays: 30,
        },
        new AbortController().signal
      )
    );
    t.is((issuerRefuses as { code?: string }).code, 'CF_CA_UNAVAILABLE');

    // The parent: an openssl root CA outside CertFleet.
    const parentKey = file(t, 'parent.key', (await generateKeyPair('RSA-2048')).privateKeyPem);
    const parentPem = (
      await openssl(
        'req',
        '-x509',
        '-new',
        '-key',
        parentKey,
        '-subj',
        '/O=Example Corp/CN=Example Corp Root',
        '-days',
        '3650',
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign'
      )
    ).out;
    const extFile = file(
      t,
      'ext.cnf',
      '[v3]\nbasicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n'
    );
    const subOut = path.join(t.context.dir, 'sub.pem');
    const signed = await openssl(
      'x509',
      '-req',
      '-in',
      file(t, 'sub.csr', csrPem),
      '-CA',
      file(t, 'parent.pem', parentPem),
      '-CAkey',
      parentKey,
      '-set_serial',
      '4242',
      '-days',
      '1825',
      '-extfile',
      extFile,
      '-extensions',
      'v3',
      '-out',
      subOut
    );
    t.is(signed.code, 0, signed.out);
    const subPem = fs.readFileSync(subOut, 'utf8');

    const noChain = await api(
      tc,
      'POST',
      `/api/v1/ca/${ca.id}/activate`,
      { certificatePem: subPem, chainPem: [] },
      token
    );
    t.is(noChain.status, 400);
    t.regex((noChain.json as { error: { message: string } }).error.message, /missing from the chain/);
    const ok = await api(
      tc,
      'POST',
      `/api/v1/ca/${ca.id}/activate`,
      { certificatePem: subPem, chainPem: [parentPem] },
      token
    );
    t.is(ok.status, 200, ok.body.toString());
    t.is((ok.json as { status: string }).status, 'active');
    const again = await api(
      tc,
      'POST',
      `/api/v1/ca/${ca.id}/activate`,
      { certificatePem: subPem, chainPem: [parentPem] },
      token
    );
    t.is(again.status, 200, 'repeating the activation is a no-op');

    const items = ((await api(tc, 'GET', '/api/v1/ca', undefined, token)).json as { items: Array<{ status: string }> })
      .items;
    t.is(items.filter((i) => i.status === 'active').length, 1, 'exactly one active CA');

    const issued = await issueViaIssuer(t, 'sub.example.test');
    t.is(issued.chainPem.length, 2, 'chain: the subordinate, then the parent root');
    const v = await openssl(
      'verify',
      '-CAfile',
      file(t, 'proot.pem', parentPem),
      '-untrusted',
      file(t, 'subca.pem', issued.chainPem[0]!),
      file(t, 'subleaf.pem', issued.leafPem)
    );
    t.is(v.code, 0, v.out);
    await fetchCrl(t, ca.id);
  }
);

/** Runs `certfleet ca …` against the test controller's repository (the real CLI once `ca` is registered). */
async function cli(
  t: ExecutionContext<Ctx>,
  args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  const registered = buildCli().commands.some((c) => c.name() === 'ca');
  const argv = registered
    ? ['bin/certfleet.js', 'ca', ...args]
    : [
        '--import',
        'tsx',
        '-e',
        "require('./controller/src/cli/commands/ca.ts').caCommand().parseAsync(process.argv.slice(1), { from: 'user' })",
        ...args,
      ];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, argv, {
      cwd: root,
      env: {
        ...process.env,
        DATABASE_URL: t.context.tc.databaseUrl,
        CERTFLEET_HOME: t.context.tc.home,
        CERTFLEET_LOG_LEVEL: 'silent',
      },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('latin1')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

test.serial(
  'C1–C5 X3 `certfleet ca` info, show-cacert, issue, revoke, gen-crl and gen-client work end to end',
  async (t) => {
    assertCommands(['openssl']);
    const t0 = Date.now();
    const info = await cli(t, ['info', '--json']);
    t.is(info.code, 0, info.stderr);
    const cas = (JSON.parse(info.stdout) as { items: Array<{ id: string; status: string }> }).items;
    const active = cas.find((c) => c.status === 'active')!;
    t.truthy(active);
    t.true(cas.filter((c) => c.status === 'retired').length >= 2);

    const cacert = await cli(t, ['show-cacert']);
    t.is(cacert.code, 0, cacert.stderr);
    const activeView = (await api(t.context.tc, 'GET', '/api/v1/ca/active', undefined, t.context.token)).json as {
      certificatePem: string;
      chainPem: string[];
    };
    t.is(cacert.stdout, activeView.certificatePem);
    const derOut = path.join(t.context.dir, 'ca.der');
    t.is((await cli(t, ['show-cacert', '--der', '--out', derOut])).code, 0);
    t.true(fs.readFileSync(derOut).equals(new crypto.X509Certificate(activeView.certificatePem).raw));

    const outDir = path.join(t.context.dir, 'issued');
    const issued = await cli(t, [
      'issue',
      '--cn',
      'cli.example.test',
      '--san',
      'cli.example.test',
      '--san',
      'IP:10.0.0.1',
      '--out-dir',
      outDir,
      '--json',
    ]);
    t.is(issued.code, 0, issued.stderr);
    const { serial } = JSON.parse(issued.stdout) as { serial: string };
    t.is(fs.statSync(path.join(outDir, 'key.pem')).mode & 0o777, 0o600);
    const caBundle = file(t, 'bundle.pem', activeView.chainPem.slice(-1)[0] ?? activeView.certificatePem);
    const verified = await openssl(
      'verify',
      '-CAfile',
      caBundle,
      '-untrusted',
      path.join(outDir, 'chain.pem'),
      path.join(outDir, 'cert.pem')
    );
    t.is(verified.code, 0, verified.out);
    const leafText = (await openssl('x509', '-in', path.join(outDir, 'cert.pem'), '-noout', '-text')).out;
    t.regex(leafText, /DNS:cli\.example\.test, IP Address:10\.0\.0\.1/);

    const revoked = await cli(t, ['revoke', serial, '--reason', 'superseded']);
    t.is(revoked.code, 0, revoked.stderr);
    t.regex(revoked.stdout, new RegExp(`revoked serial ${serial}`));
    const twice = await cli(t, ['revoke', serial, '--json']);
    t.true((JSON.parse(twice.stdout) as { alreadyRevoked: boolean }).alreadyRevoked);
    const badSerial = await cli(t, ['revoke', 'not-hex']);
    t.is(badSerial.code, 2);
    t.regex(badSerial.stderr, /certfleet ca revoke: CF_VALIDATION/);

    const crlFile = path.join(t.context.dir, 'cli.crl');
    const gen = await cli(t, ['gen-crl', '--out', crlFile]);
    t.is(gen.code, 0, gen.stderr);
    const crlText = await openssl(
      'crl',
      '-inform',
      'DER',
      '-in',
      crlFile,
      '-CAfile',
      file(t, 'active.pem', activeView.certificatePem),
      '-noout',
      '-text'
    );
    t.regex(crlText.out, /verify OK/);
    t.regex(crlText.out, new RegExp(`Serial Number: ${serial}[\\s\\S]{0,200}Superseded`));
    const pemCrl = await cli(t, ['gen-crl']);
    t.regex(pemCrl.stdout, /^-----BEGIN X509 CRL-----/);

    const pwFile = file(t, 'pw.txt', 'client pfx secret\n');
    const p12 = path.join(t.context.dir, 'admin-cli.p12');
    const client = await cli(t, ['gen-client', 'admin', '--out', p12, '--password-file', pwFile, '--json']);
    t.is(client.code, 0, client.stderr);
    t.is(fs.statSync(p12).mode & 0o777, 0o600);
    const opened = await openssl('pkcs12', '-in', p12, '-passin', 'pass:client pfx secret', '-noout');
    t.is(opened.code, 0, opened.out);
    const generated = await cli(t, ['gen-client', 'admin', '--out', path.join(t.context.dir, 'gen.p12'), '--json']);
    const { password } = JSON.parse(generated.stdout) as { password: string };
    t.is(
      (await openssl('pkcs12', '-in', path.join(t.context.dir, 'gen.p12'), '-passin', `pass:${password}`, '-noout'))
        .code,
      0
    );
    t.log(`CLI: 10 invocations in ${Date.now() - t0} ms`);
  }
);
