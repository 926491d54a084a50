/**
 * SPEC A2 — the `acme` issuer against Debian's pebble + pebble-challtestsrv on loopback (test/_helpers/pebble.ts):
 * HTTP-01 through the controller's standalone responder, DNS-01 (incl. a wildcard) through a hook that drives
 * challtestsrv's TXT records, account reuse, pending/poll, abort, and the error contract. The standalone HTTP-01
 * responder is unit-tested at the end (no pebble needed).
 */
import { execFile } from 'node:child_process';
import crypto, { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import anyTest from 'ava';
import pino from 'pino';
import { type CertFleetError, generateKeyPair, systemClock } from '@certfleet/shared';
import type { San } from '../../../controller/src/domain/definition';
import { acmeIssuer, createAcmeIssuer, type AcmeIssuerConfig } from '../../../controller/src/issuers/acme/acme-issuer';
import { startHttp01Responder, type Http01Responder } from '../../../controller/src/issuers/acme/http01-responder';
import type { IssueOutcome, IssueRequest, IssuerDeps } from '../../../controller/src/issuers/issuer';
import { seal } from '../../../controller/src/secrets/envelope';
import { masterKeyFromBytes } from '../../../controller/src/secrets/master-key';
import { SEALED_COLUMNS, sealContext } from '../../../controller/src/secrets/sealed-columns';
import type { ServiceContext } from '../../../controller/src/services/context';
import type { Database } from '../../../controller/src/storage/database';
import { AcmeAccountEntity, PrivateKeyEntity, SecretEntity } from '../../../controller/src/storage/entities';
import { dropDatabase, freshDatabase } from '../../_helpers/db';
import { assertCommands, testNeeding } from '../../_helpers/needs';
import { fetchText, freeLoopbackPorts, startPebble, type RunningPebble } from '../../_helpers/pebble';

const run = promisify(execFile);
const NEEDS = ['pebble', 'pebble-challtestsrv', 'openssl'];

interface Ctx {
  db: Database;
  ctx: ServiceContext;
  responder: Http01Responder;
  pebble: RunningPebble;
  /** A second pebble that requires External Account Binding. */
  eabPebble: RunningPebble;
  dir: string;
  hookLog: string;
  timings: number[];
}
const test = testNeeding<Ctx>(NEEDS);

const EAB_KID = 'kid-certfleet';
const EAB_HMAC = crypto.randomBytes(32).toString('base64url');

/** A node script used as the DNS-01 hook: drives challtestsrv's management API, logs each call. */
const HOOK_SCRIPT = `
const http = require('node:http');
const fs = require('node:fs');
const [mgmt, logFile, mode] = process.argv.slice(2);
const e = process.env;
fs.appendFileSync(logFile, JSON.stringify({ action: e.CERTFLEET_ACME_ACTION, domain: e.CERTFLEET_ACME_DOMAIN,
  name: e.CERTFLEET_ACME_RECORD_NAME, value: e.CERTFLEET_ACME_RECORD_VALUE, leaked: e.CERTFLEET_TEST_ADMIN_URL !== undefined }) + '\\n');
if (mode === 'fail' && e.CERTFLEET_ACME_ACTION === 'present') {
  process.stderr.write('dns provider said: zone certfleet.test is locked\\n');
  process.exit(1);
}
if (mode === 'hang' && e.CERTFLEET_ACME_ACTION === 'present') setTimeout(() => {}, 60000);
else {
  const path = e.CERTFLEET_ACME_ACTION === 'present' ? '/set-txt' : '/clear-txt';
  const body = JSON.stringify({ host: e.CERTFLEET_ACME_RECORD_NAME + '.', value: e.CERTFLEET_ACME_RECORD_VALUE });
  const req = http.request(mgmt + path, { method: 'POST' }, (res) => { res.resume(); res.on('end', () => process.exit(res.statusCode === 200 ? 0 : 3)); });
  req.on('error', (err) => { process.stderr.write(String(err)); process.exit(4); });
  req.end(body);
}
`;

test.before(async (t) => {
  assertCommands(NEEDS);
  const db = await freshDatabase('cft_acme');
  const ctx: ServiceContext = {
    db,
    masterKey: masterKeyFromBytes(crypto.randomBytes(32)),
    clock: systemClock,
    log: pino({ level: process.env.CERTFLEET_TEST_LOG ?? 'silent' }),
  };
  const responder = await startHttp01Responder({ host: '127.0.0.1', port: 0 });
  const t0 = Date.now();
  const [pebble, eabPebble] = await Promise.all([
    startPebble({ httpPort: responder.port }),
    startPebble({ httpPort: responder.port, eabKeys: { [EAB_KID]: EAB_HMAC } }),
  ]);
  t.log(`two pebbles + challtestsrvs up in ${Date.now() - t0} ms (${pebble.directoryUrl}, ${eabPebble.directoryUrl})`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certfleet-acme-test-'));
  fs.writeFileSync(path.join(dir, 'hook.js'), HOOK_SCRIPT);
  t.context = { db, ctx, responder, pebble, eabPebble, dir, hookLog: path.join(dir, 'hook.log'), timings: [] };
});

test.after.always(async (t) => {
  const c = t.context as Partial<Ctx>;
  if (c.timings?.length) {
    const sorted = [...c.timings].sort((a, b) => a - b);
    t.log(
      `ms per issuance (http-01, 1–2 names): ${sorted.join(', ')}; median ${sorted[Math.floor(sorted.length / 2)]}`
    );
  }
  await c.pebble?.stop();
  await c.eabPebble?.stop();
  await c.responder?.close();
  if (c.db) {
    await c.db.close();
    await dropDatabase(c.db.url);
  }
  if (c.dir) fs.rmSync(c.dir, { recursive: true, force: true });
});

/** A key the test owns and a CSR for it naming exactly `names` (CN = first DNS name). */
async function keyAndCsr(dir: string, names: San[]): Promise<{ keyPem: string; csrPem: string }> {
  const { privateKeyPem } = await generateKeyPair('EC-P256');
  const id = crypto.randomBytes(4).toString('hex');
  const keyFile = path.join(dir, `${id}.key`);
  fs.writeFileSync(keyFile, privateKeyPem);
  const cn = names.find((n) => n.type === 'dns')?.value;
  const san = names.map((n) => `${n.type === 'dns' ? 'DNS' : 'IP'}:${n.value}`).join(',');
  const { stdout } = await run('openssl', [
    'req', '-new', '-key', keyFile, '-subj', cn ? `/CN=${cn}` : '/', '-addext', `subjectAltName=${san}`,
  ]); // prettier-ignore
  return { keyPem: privateKeyPem, csrPem: stdout };
}

function request(csrPem: string, sans: San[]): IssueRequest {
  return {
    requestId: crypto.randomUUID(),
    definitionId: crypto.randomUUID(),
    csrPem,
    subject: { commonName: sans.find((s) => s.type === 'dns')?.value ?? 'ip-only' },
    sans,
    keySpec: 'EC-P256',
    validityDays: 90,
  };
}

const dns = (...names: string[]): San[] => names.map((value) => ({ type: 'dns' as const, value }));

function baseConfig(p: RunningPebble, extra: Partial<AcmeIssuerConfig> = {}): Record<string, unknown> {
  return {
    directoryUrl: p.directoryUrl,
    caBundlePem: p.tlsCaPem,
    pollIntervalMs: 100,
    email: 'ops@example.com',
    ...extra,
  };
}

function deps(c: Ctx, responder: IssuerDeps['http01Responder'] = c.responder): IssuerDeps {
  return { ctx: c.ctx, http01Responder: responder };
}

function issued(o: IssueOutcome): Extract<IssueOutcome, { kind: 'issued' }> {
  if (o.kind !== 'issued') throw new Error(`expected issued, got ${JSON.stringify(o)}`);
  return o;
}

/** `openssl verify -untrusted chain.pem -CAfile root.pem leaf.pem`. */
async function opensslVerify(
  dir: string,
  o: Extract<IssueOutcome, { kind: 'issued' }>,
  rootPem: string
): Promise<string> {
  const id = crypto.randomBytes(4).toString('hex');
  const leaf = path.join(dir, `${id}-leaf.pem`);
  const chain = path.join(dir, `${id}-chain.pem`);
  const root = path.join(dir, `${id}-root.pem`);
  fs.writeFileSync(leaf, o.leafPem);
  fs.writeFileSync(chain, o.chainPem.join(''));
  fs.writeFileSync(root, rootPem);
  const { stdout } = await run('openssl', ['verify', '-untrusted', chain, '-CAfile', root, leaf]);
  return stdout.trim();
}

function hookCalls(c: Ctx): Array<{ action: string; domain: string; name: string; value: string; leaked: boolean }> {
  if (!fs.existsSync(c.hookLog)) return [];
  const lines = fs.readFileSync(c.hookLog, 'utf8').trim().split('\n').filter(Boolean);
  fs.rmSync(c.hookLog);
  return lines.map(
    (l) => JSON.parse(l) as { action: string; domain: string; name: string; value: string; leaked: boolean }
  );
}

async function accountRows(c: Ctx, directoryUrl: string): Promise<number> {
  return c.db.em().count(AcmeAccountEntity, { directoryUrl });
}

test.serial(
  'A2 ACME HTTP-01: two DNS names issued by pebble for the caller’s key; chain verifies to pebble’s root',
  async (t) => {
    const c = t.context;
    const sans = dns('a.certfleet.test', 'b.certfleet.test');
    const { keyPem, csrPem } = await keyAndCsr(c.dir, sans);
    const issuer = acmeIssuer.create(baseConfig(c.pebble), deps(c));
    const t0 = performance.now();
    const o = issued(await issuer.issue(request(csrPem, sans), AbortSignal.timeout(60_000)));
    c.timings.push(Math.round(performance.now() - t0));

    const leaf = new X509Certificate(o.leafPem);
    t.true(leaf.checkPrivateKey(crypto.createPrivateKey(keyPem)), 'the leaf carries the key the test owns');
    t.deepEqual((leaf.subjectAltName ?? '').split(', ').sort(), ['DNS:a.certfleet.test', 'DNS:b.certfleet.test']);
    t.true(o.chainPem.length >= 1, 'leaf and chain are split');
    t.false(
      o.chainPem.some((p) => p.includes(o.leafPem.trim())),
      'the chain does not repeat the leaf'
    );
    t.regex(o.externalId ?? '', /^https:\/\/127\.0\.0\.1:\d+\//, 'externalId is the certificate URL');
    t.regex(await opensslVerify(c.dir, o, c.pebble.rootPem), /: OK$/);
    t.is(c.responder.size(), 0, 'HTTP-01 answers are removed after validation');
    t.is(await accountRows(c, c.pebble.directoryUrl), 1);
  }
);

test.serial('A2 ACME DNS-01 through a hook (argv, env contract, cleanup), incl. a wildcard', async (t) => {
  const c = t.context;
  hookCalls(c);
  const sans = dns('d.certfleet.test', '*.d.certfleet.test');
  const { keyPem, csrPem } = await keyAndCsr(c.dir, sans);
  const config = baseConfig(c.pebble, {
    challenge: 'dns-01',
    dnsHook: {
      command: [process.execPath, path.join(c.dir, 'hook.js'), c.pebble.challtestsrvUrl, c.hookLog],
      timeoutMs: 10_000,
    },
  });
  const t0 = performance.now();
  // no HTTP-01 responder at all: dns-01 must not need one
  const o = issued(
    await acmeIssuer.create(config, { ctx: c.ctx }).issue(request(csrPem, sans), AbortSignal.timeout(60_000))
  );
  t.log(`dns-01 issuance (2 names, 4 hook runs): ${Math.round(performance.now() - t0)} ms`);
  const leaf = new X509Certificate(o.leafPem);
  t.true(leaf.checkPrivateKey(crypto.createPrivateKey(keyPem)));
  t.deepEqual((leaf.subjectAltName ?? '').split(', ').sort(), ['DNS:*.d.certfleet.test', 'DNS:d.certfleet.test']);
  t.regex(await opensslVerify(c.dir, o, c.pebble.rootPem), /: OK$/);

  const calls = hookCalls(c);
  t.is(calls.filter((x) => x.action === 'present').length, 2);
  t.is(calls.filter((x) => x.action === 'cleanup').length, 2);
  for (const x of calls) {
    t.is(x.domain, 'd.certfleet.test', 'the wildcard’s domain has no "*."');
    t.is(x.name, '_acme-challenge.d.certfleet.test');
    t.regex(x.value, /^[A-Za-z0-9_-]{43}$/, 'the TXT value is base64url(SHA-256(key authorization))');
    t.false(x.leaked, "the controller's environment is not passed to the hook");
  }
  t.is(new Set(calls.map((x) => x.value)).size, 2, 'name and wildcard get distinct TXT values');
});

test.serial(
  'A2 ACME account: created once per directory and reused by later orders (key sealed in the vault)',
  async (t) => {
    const c = t.context;
    const before = await c.db.em().findOneOrFail(AcmeAccountEntity, { directoryUrl: c.pebble.directoryUrl });
    const keysBefore = await c.db.em().count(PrivateKeyEntity, {});
    for (let i = 0; i < 4; i++) {
      const sans = dns(`r${i}.certfleet.test`);
      const { csrPem } = await keyAndCsr(c.dir, sans);
      const t0 = performance.now();
      issued(
        await acmeIssuer.create(baseConfig(c.pebble), deps(c)).issue(request(csrPem, sans), AbortSignal.timeout(60_000))
      );
      c.timings.push(Math.round(performance.now() - t0));
    }
    const rows = await c.db.em().find(AcmeAccountEntity, { directoryUrl: c.pebble.directoryUrl });
    t.is(rows.length, 1);
    t.is(rows[0]!.accountUrl, before.accountUrl, 'same ACME account URL');
    t.is(rows[0]!.privateKeyId, before.privateKeyId, 'same account key');
    t.regex(rows[0]!.accountUrl ?? '', /^https:\/\/127\.0\.0\.1:\d+\/my-account\//);
    t.is(rows[0]!.email, 'ops@example.com');
    t.is(await c.db.em().count(PrivateKeyEntity, {}), keysBefore, 'no new key objects');
    const key = await c.db.em().findOneOrFail(PrivateKeyEntity, { id: before.privateKeyId });
    t.is(key.algorithm, 'EC-P256');
    t.false(key.exportable, 'the account key is not exportable');
  }
);

test.serial(
  'A2 ACME IP SAN: sent as an RFC 8738 ip identifier (pebble accepts it); dns-01 for an IP is refused',
  async (t) => {
    const c = t.context;
    const sans: San[] = [...dns('ip.certfleet.test'), { type: 'ip', value: '127.0.0.1' }];
    const { csrPem } = await keyAndCsr(c.dir, sans);
    const o = issued(
      await acmeIssuer.create(baseConfig(c.pebble), deps(c)).issue(request(csrPem, sans), AbortSignal.timeout(60_000))
    );
    t.deepEqual((new X509Certificate(o.leafPem).subjectAltName ?? '').split(', ').sort(), [
      'DNS:ip.certfleet.test',
      'IP Address:127.0.0.1',
    ]);
    const dnsIssuer = acmeIssuer.create(
      baseConfig(c.pebble, { challenge: 'dns-01', dnsHook: { command: ['/bin/true'], timeoutMs: 1000 } }),
      deps(c)
    );
    const err = await t.throwsAsync(dnsIssuer.issue(request(csrPem, sans), AbortSignal.timeout(10_000)));
    t.is((err as CertFleetError).code, 'CF_ISSUER_REJECTED');
    t.false((err as CertFleetError).retryable);
  }
);

test.serial(
  'A2 ACME pending: an order not done within maxWaitMs is returned as pending and finished by poll',
  async (t) => {
    const c = t.context;
    const sans = dns('slow.certfleet.test');
    const { keyPem, csrPem } = await keyAndCsr(c.dir, sans);
    const req = request(csrPem, sans);
    const first = await acmeIssuer
      .create(baseConfig(c.pebble, { maxWaitMs: 0 }), deps(c))
      .issue(req, AbortSignal.timeout(30_000));
    if (first.kind !== 'pending') return t.fail(`expected pending, got ${first.kind}`);
    t.regex(String(first.state.orderUrl), /^https:\/\/127\.0\.0\.1:\d+\//);
    t.true(first.retryAfter.getTime() > Date.now() - 1000);
    t.truthy(first.waitingFor);
    const state = JSON.parse(JSON.stringify(first.state)) as Record<string, unknown>; // survives the database
    t.false(JSON.stringify(state).includes('PRIVATE KEY'));
    const issuer = acmeIssuer.create(baseConfig(c.pebble), deps(c));
    const o = issued(await issuer.poll!(req, state, AbortSignal.timeout(30_000)));
    t.true(new X509Certificate(o.leafPem).checkPrivateKey(crypto.createPrivateKey(keyPem)));
    t.is(c.responder.size(), 0, 'poll cleaned up what issue published');
  }
);

test.serial(
  'A2 ACME abort: an AbortSignal stops a hanging hook, rejects with its reason, and cleanup still runs',
  async (t) => {
    const c = t.context;
    hookCalls(c);
    const sans = dns('abort.certfleet.test');
    const { csrPem } = await keyAndCsr(c.dir, sans);
    const config = baseConfig(c.pebble, {
      challenge: 'dns-01',
      dnsHook: {
        command: [process.execPath, path.join(c.dir, 'hook.js'), c.pebble.challtestsrvUrl, c.hookLog, 'hang'],
        timeoutMs: 30_000,
      },
    });
    const ac = new AbortController();
    const reason = new Error('operator cancelled');
    setTimeout(() => ac.abort(reason), 500);
    const t0 = performance.now();
    const err = await t.throwsAsync(acmeIssuer.create(config, deps(c)).issue(request(csrPem, sans), ac.signal));
    t.is(err, reason);
    t.true(performance.now() - t0 < 5000, 'the hanging hook was killed');
    const calls = hookCalls(c);
    t.deepEqual(
      calls.map((x) => x.action),
      ['present', 'cleanup']
    );
  }
);

test.serial('A2 ACME EAB: a CA that requires external account binding accepts the kid + sealed HMAC key', async (t) => {
  const c = t.context;
  const secretName = 'acme/eab/pebble';
  const sans = dns('eab.certfleet.test');
  const { csrPem } = await keyAndCsr(c.dir, sans);
  const withoutEab = await t.throwsAsync(
    acmeIssuer.create(baseConfig(c.eabPebble), deps(c)).issue(request(csrPem, sans), AbortSignal.timeout(30_000))
  );
  t.is((withoutEab as CertFleetError).code, 'CF_ISSUER_REJECTED', (withoutEab as Error).message);
  t.is((withoutEab as CertFleetError).details?.problemType, 'externalAccountRequired');

  const config = baseConfig(c.eabPebble, { eab: { kid: EAB_KID, hmacKeySecretName: secretName } });
  const missing = await t.throwsAsync(
    acmeIssuer.create(config, deps(c)).issue(request(csrPem, sans), AbortSignal.timeout(30_000))
  );
  t.is((missing as CertFleetError).code, 'CF_ISSUER_CONFIG_INVALID');

  await c.db.em().transactional(async (em) => {
    em.persist(
      em.create(SecretEntity, {
        id: secretName,
        sealed: seal(c.ctx.masterKey, sealContext(SEALED_COLUMNS.namedSecret, secretName), EAB_HMAC),
        updatedAt: new Date(),
      })
    );
  });
  issued(await acmeIssuer.create(config, deps(c)).issue(request(csrPem, sans), AbortSignal.timeout(30_000)));
  const row = await c.db.em().findOneOrFail(AcmeAccountEntity, { directoryUrl: c.eabPebble.directoryUrl });
  t.is(row.eabKid, EAB_KID);
  t.truthy(row.accountUrl);
});

test.serial(
  'A2 ACME errors: unreachable directory → CF_ISSUER_UNAVAILABLE (retryable); untrusted TLS → not retryable',
  async (t) => {
    const c = t.context;
    const sans = dns('err.certfleet.test');
    const { csrPem } = await keyAndCsr(c.dir, sans);
    const [deadPort] = await freeLoopbackPorts(1);
    const t0 = performance.now();
    const down = await t.throwsAsync(
      acmeIssuer
        .create({ directoryUrl: `https://127.0.0.1:${deadPort}/dir`, pollIntervalMs: 100 }, deps(c))
        .issue(request(csrPem, sans), AbortSignal.timeout(30_000))
    );
    t.is((down as CertFleetError).code, 'CF_ISSUER_UNAVAILABLE', (down as Error).message);
    t.true((down as CertFleetError).retryable);
    t.is((down as CertFleetError).details?.errorCode, 'ECONNREFUSED');
    t.true(performance.now() - t0 < 5000, 'fails fast: no hidden 75 s of library retries');

    const untrusted = await t.throwsAsync(
      acmeIssuer
        .create({ directoryUrl: c.pebble.directoryUrl }, deps(c))
        .issue(request(csrPem, sans), AbortSignal.timeout(30_000))
    );
    t.is((untrusted as CertFleetError).code, 'CF_ISSUER_UNAVAILABLE', (untrusted as Error).message);
    t.false((untrusted as CertFleetError).retryable);
    t.regex((untrusted as Error).message, /caBundlePem/);

    // an https server that is not an ACME directory
    const notAcme = await t.throwsAsync(
      acmeIssuer
        .create(baseConfig(c.pebble, { directoryUrl: `${c.pebble.managementUrl}/no-such-directory` }), deps(c))
        .issue(request(csrPem, sans), AbortSignal.timeout(30_000))
    );
    t.is((notAcme as CertFleetError).code, 'CF_ISSUER_CONFIG_INVALID', (notAcme as Error).message);
  }
);

test.serial(
  'A2 ACME errors: DNS-01 hook exiting 1 → CF_ISSUER_CHALLENGE_FAILED with the stderr tail; cleanup ran',
  async (t) => {
    const c = t.context;
    hookCalls(c);
    const sans = dns('hookfail.certfleet.test');
    const { csrPem } = await keyAndCsr(c.dir, sans);
    const config = baseConfig(c.pebble, {
      challenge: 'dns-01',
      dnsHook: {
        command: [process.execPath, path.join(c.dir, 'hook.js'), c.pebble.challtestsrvUrl, c.hookLog, 'fail'],
        timeoutMs: 10_000,
      },
    });
    const err = (await t.throwsAsync(
      acmeIssuer.create(config, deps(c)).issue(request(csrPem, sans), AbortSignal.timeout(30_000))
    )) as CertFleetError;
    t.is(err.code, 'CF_ISSUER_CHALLENGE_FAILED');
    t.regex(err.message, /exited with status 1: dns provider said: zone certfleet.test is locked/);
    t.is(err.details?.exitCode, 1);
    t.true(err.retryable);
    t.deepEqual(
      hookCalls(c).map((x) => x.action),
      ['present', 'cleanup']
    );

    const missing = (await t.throwsAsync(
      acmeIssuer
        .create(
          baseConfig(c.pebble, { challenge: 'dns-01', dnsHook: { command: ['/nonexistent/hook'], timeoutMs: 1000 } }),
          deps(c)
        )
        .issue(request(csrPem, sans), AbortSignal.timeout(30_000))
    )) as CertFleetError;
    t.is(missing.code, 'CF_ISSUER_CONFIG_INVALID');
  }
);

test.serial(
  'A2 ACME errors: bad config → CF_ISSUER_CONFIG_INVALID; CSR ≠ SANs → CF_CSR_INVALID; no responder',
  async (t) => {
    const c = t.context;
    const bad: unknown[] = [
      {},
      { directoryUrl: 'http://127.0.0.1/dir' },
      { directoryUrl: c.pebble.directoryUrl, challenge: 'dns-01' },
      { directoryUrl: c.pebble.directoryUrl, challenge: 'dns-01', dnsHook: { command: 'rm -rf /', timeoutMs: 1 } },
      { directoryUrl: c.pebble.directoryUrl, dnsHook: { command: ['relative-hook'], timeoutMs: 1000 } },
      { directoryUrl: c.pebble.directoryUrl, caBundlePem: 'not a certificate' },
      { directoryUrl: c.pebble.directoryUrl, email: 'not an email' },
      { directoryUrl: c.pebble.directoryUrl, challenge: 'tls-alpn-01' },
      { directoryUrl: c.pebble.directoryUrl, unknownOption: true },
    ];
    for (const raw of bad) {
      const err = t.throws(() => acmeIssuer.create(raw, deps(c)), undefined, JSON.stringify(raw)) as CertFleetError;
      t.is(err.code, 'CF_ISSUER_CONFIG_INVALID', JSON.stringify(raw));
      t.throws(() => acmeIssuer.validate(raw));
    }
    t.notThrows(() => acmeIssuer.validate({ directoryUrl: c.pebble.directoryUrl, caBundlePem: c.pebble.tlsCaPem }));

    const sans = dns('csr.certfleet.test');
    const other = await keyAndCsr(c.dir, dns('csr.certfleet.test', 'extra.certfleet.test'));
    const csrErr = (await t.throwsAsync(
      acmeIssuer.create(baseConfig(c.pebble), deps(c)).issue(request(other.csrPem, sans), AbortSignal.timeout(10_000))
    )) as CertFleetError;
    t.is(csrErr.code, 'CF_CSR_INVALID');
    t.deepEqual(csrErr.details?.extra, ['dns:extra.certfleet.test']);

    const { csrPem } = await keyAndCsr(c.dir, sans);
    const noResponder = (await t.throwsAsync(
      createAcmeIssuer(acmeIssuerConfig(c), { ctx: c.ctx }).issue(request(csrPem, sans), AbortSignal.timeout(10_000))
    )) as CertFleetError;
    t.is(noResponder.code, 'CF_ISSUER_CONFIG_INVALID');

    const email = (await t.throwsAsync(
      acmeIssuer
        .create(baseConfig(c.pebble), deps(c))
        .issue(request(csrPem, [{ type: 'email', value: 'a@example.com' }]), AbortSignal.timeout(10_000))
    )) as CertFleetError;
    t.is(email.code, 'CF_ISSUER_REJECTED');
    const wildcardHttp = (await t.throwsAsync(
      acmeIssuer
        .create(baseConfig(c.pebble), deps(c))
        .issue(request(csrPem, dns('*.w.certfleet.test')), AbortSignal.timeout(10_000))
    )) as CertFleetError;
    t.is(wildcardHttp.code, 'CF_ISSUER_REJECTED');
  }
);

function acmeIssuerConfig(c: Ctx): AcmeIssuerConfig {
  return {
    directoryUrl: c.pebble.directoryUrl,
    challenge: 'http-01',
    caBundlePem: c.pebble.tlsCaPem,
    pollIntervalMs: 100,
  };
}

// ---- the standalone HTTP-01 responder (no pebble needed) ----

function get(
  port: number,
  urlPath: string,
  method = 'GET'
): Promise<{ status: number; type: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: urlPath, method }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          type: res.headers['content-type'],
          body: Buffer.concat(chunks).toString(),
        })
      );
    });
    req.on('error', reject);
    req.end();
  });
}

anyTest(
  'A2 HTTP-01 responder: answers only GET /.well-known/acme-challenge/<token> as text/plain; 404 otherwise',
  async (t) => {
    const r = await startHttp01Responder({ host: '127.0.0.1', port: 0 });
    try {
      const token = crypto.randomBytes(32).toString('base64url');
      const keyAuthorization = `${token}.${crypto.randomBytes(32).toString('base64url')}`;
      t.is((await get(r.port, `/.well-known/acme-challenge/${token}`)).status, 404, 'not yet published');
      await r.publish(token, keyAuthorization, { identifier: 'x.certfleet.test' });
      t.is(r.size(), 1);
      const ok = await get(r.port, `/.well-known/acme-challenge/${token}`);
      t.is(ok.status, 200);
      t.is(ok.body, keyAuthorization);
      t.regex(ok.type ?? '', /^text\/plain/);
      t.is((await get(r.port, `/.well-known/acme-challenge/${token}?x=1`)).body, keyAuthorization, 'query ignored');
      const head = await get(r.port, `/.well-known/acme-challenge/${token}`, 'HEAD');
      t.is(head.status, 200);
      t.is(head.body, '');
      t.is((await get(r.port, `/.well-known/acme-challenge/${token}`, 'POST')).status, 405);
      for (const p of [
        '/',
        '/.well-known/acme-challenge/',
        `/.well-known/acme-challenge/${token}/`,
        `/.well-known/acme-challenge/${token}x`,
        `/.well-known/acme-challenge/../acme-challenge/${token}`,
        `/.well-known/acme-challenge/${'A'.repeat(129)}`,
        '/.well-known/acme-challenge/a%2Fb',
        `/other/${token}`,
      ]) {
        const res = await get(r.port, p);
        t.is(res.status, 404, p);
        t.regex(res.type ?? '', /^text\/plain/);
        t.false(res.body.includes(keyAuthorization));
      }
      t.throws(() => r.publish('bad token!', 'x.y'), { message: /base64url/ });
      t.throws(() => r.publish(token, 'other.thumbprint'), { message: /<token>\.<thumbprint>/ });
      t.throws(() => r.publish('A'.repeat(129), `${'A'.repeat(129)}.x`));
      await r.remove(token);
      await r.remove(token); // idempotent
      t.is(r.size(), 0);
      t.is((await get(r.port, `/.well-known/acme-challenge/${token}`)).status, 404, 'removed');
    } finally {
      await r.close();
    }
  }
);

anyTest('A2 HTTP-01 responder: refuses to start on a port in use (typed error) and closes cleanly', async (t) => {
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen({ host: '127.0.0.1', port: 0 }, resolve));
  const port = (blocker.address() as net.AddressInfo).port;
  try {
    const err = (await t.throwsAsync(startHttp01Responder({ host: '127.0.0.1', port }))) as CertFleetError;
    t.is(err.code, 'CF_CONFIG_INVALID');
  } finally {
    blocker.close();
  }
  const r = await startHttp01Responder({ host: '127.0.0.1', port: 0 });
  await r.close();
  await t.throwsAsync(fetchText(`http://127.0.0.1:${r.port}/`));
});
