/**
 * Bulk issuance (controller/src/services/ca/bulk-issuance.ts) on a real PostgreSQL: every certificate lands with
 * its sealed key, its definition, its current-certificate row and its ca_issuances row; the rows say what
 * `summarizeCertificate` says about the certificate; the certificates verify with openssl and Node.
 * Plus a smoke run of `npm run bench -- issuance` with tiny counts. No timing assertions here.
 */
import { execFile } from 'node:child_process';
import crypto, { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Knex } from '@mikro-orm/postgresql';
import anyTest, { type TestFn } from 'ava';
import pino from 'pino';
import { fixedClock, isCertFleetError, summarizeCertificate } from '@certfleet/shared';
import { masterKeyFromBytes } from '../../../controller/src/secrets/master-key';
import { openPrivateKey, publicKeySha256 } from '../../../controller/src/secrets/key-vault';
import { verifyAuditChain } from '../../../controller/src/services/audit-service';
import { defaultWorkers, ecKeyGenerator, issueBatch } from '../../../controller/src/services/ca/bulk-issuance';
import { normalizeSerial } from '../../../controller/src/services/ca/ca-store';
import { rolloverCa, setCaExtensions } from '../../../controller/src/services/ca/lifecycle';
import type { ServiceContext } from '../../../controller/src/services/context';
import { createDefinition } from '../../../controller/src/services/definition-service';
import type { Database } from '../../../controller/src/storage/database';
import { dropDatabase, freshDatabase } from '../../_helpers/db';
import { assertCommands, hasCommand, isCI, testNeeding } from '../../_helpers/needs';

const execFileAsync = promisify(execFile);

interface Ctx {
  db: Database;
  ctx: ServiceContext;
  caPem: string;
  caId: string;
  dir: string;
}
const test = anyTest as TestFn<Ctx>;
// Tests that compare table counts run one at a time (ava runs serial tests first, then the others).
const serial = test.serial;
const serialOpenssl = hasCommand('openssl') || isCI ? test.serial : test.serial.skip;
const testBench = testNeeding<Ctx>(['openssl', 'cfssl', 'cfssljson']);

const NOW = new Date('2026-11-25T20:10:00.000Z');

test.before(async (t) => {
  const db = await freshDatabase('cfbulk');
  const ctx: ServiceContext = {
    db,
    masterKey: masterKeyFromBytes(crypto.randomBytes(32)),
    clock: fixedClock(NOW),
    log: pino({ level: 'silent' }),
  };
  const ca = await rolloverCa(ctx, 'test', { keySpec: 'EC-P256', name: 'Bulk test CA' });
  await setCaExtensions(ctx, ca.id, { crlDistributionPoint: 'http://pki.test.internal/pki/{caId}/crl' }, 'test');
  t.context = {
    db,
    ctx,
    caPem: ca.certificatePem!,
    caId: ca.id,
    dir: await mkdtemp(path.join(os.tmpdir(), 'certfleet-bulk-')),
  };
});

test.after.always(async (t) => {
  if (!t.context.db) return;
  const url = t.context.db.url;
  await t.context.db.close();
  await dropDatabase(url);
  await rm(t.context.dir, { recursive: true, force: true });
});

function knex(t: { context: Ctx }): Knex {
  return t.context.db.em().getKnex() as Knex;
}

async function count(t: { context: Ctx }, table: string): Promise<number> {
  const r = (await knex(t).raw(`select count(*)::int as n from ${table}`)) as { rows: Array<{ n: number }> };
  return r.rows[0]!.n;
}

async function tableCounts(t: { context: Ctx }): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const table of ['private_keys', 'certificate_definitions', 'certificates', 'ca_issuances'])
    out[table] = await count(t, table);
  return out;
}

interface Row {
  id: string;
  definition_id: string;
  private_key_id: string;
  pem: string;
  chain_pem: string[];
  sha1: string;
  sha256: string;
  serial: string;
  subject: string;
  issuer: string;
  not_before: Date;
  not_after: Date;
  key_algorithm: string;
  sans: string[];
  is_current: boolean;
  source: string;
  i_serial: string;
  i_subject: string;
  i_sha256: string;
  i_pem: string;
  i_kind: string;
  i_not_before: Date;
  i_not_after: Date;
  d_name: string;
  d_subject: Record<string, string>;
  d_sans: Array<{ type: string; value: string }>;
  d_issuer_type: string;
  d_key_spec: string;
  k_algorithm: string;
  k_label: string;
}

async function rowsFor(t: { context: Ctx }, certificateIds: string[]): Promise<Row[]> {
  const r = (await knex(t).raw(
    `select c.*, i.serial as i_serial, i.subject as i_subject, i.sha256 as i_sha256, i.pem as i_pem, i.kind as i_kind,
            i.not_before as i_not_before, i.not_after as i_not_after,
            d.name as d_name, d.subject as d_subject, d.sans as d_sans, d.issuer_type as d_issuer_type, d.key_spec as d_key_spec,
            k.algorithm as k_algorithm, k.label as k_label
       from certificates c
       join ca_issuances i on i.certificate_id = c.id
       join certificate_definitions d on d.id = c.definition_id
       join private_keys k on k.id = c.private_key_id
      where c.id = any(?::uuid[])`,
    [certificateIds]
  )) as { rows: Row[] };
  // MikroORM's pg connection hands timestamps back as text: make them Dates.
  for (const row of r.rows) {
    for (const k of ['not_before', 'not_after', 'i_not_before', 'i_not_after'] as const) row[k] = new Date(row[k]);
  }
  return r.rows;
}

serialOpenssl(
  'a batch of 300 lands whole: sealed keys, definitions, current certificates, issuance rows',
  async (t) => {
    assertCommands(['openssl']);
    const before = await tableCounts(t);
    const progress: number[] = [];
    const result = await issueBatch(
      t.context.ctx,
      { count: 300, commonNamePattern: 'svc-{n}.{run}.bulk.test.internal' },
      { batchSize: 128, concurrency: 2, workers: 0, onProgress: (p) => progress.push(p.issued) }
    );
    t.is(result.issued, 300);
    t.is(result.batches, 3);
    t.is(result.caId, t.context.caId);
    t.deepEqual([...progress].sort((a, b) => a - b).at(-1), 300);
    const after = await tableCounts(t);
    for (const table of Object.keys(before)) t.is(after[table]! - before[table]!, 300, table);

    const rows = await rowsFor(
      t,
      result.certificates.map((c) => c.certificateId)
    );
    t.is(rows.length, 300, 'every certificate has exactly one issuance row, definition and key');
    const byId = new Map(rows.map((r) => [r.id, r]));
    const ca = new X509Certificate(t.context.caPem);
    const crlUrl = `http://pki.test.internal/pki/${t.context.caId}/crl`;
    for (const issued of result.certificates) {
      const row = byId.get(issued.certificateId)!;
      const x = new X509Certificate(row.pem);
      const s = summarizeCertificate(x.raw);
      // The repository says what the certificate says (the same fields the import/acquisition paths store).
      t.is(row.pem, s.pem);
      t.is(row.sha1, s.sha1);
      t.is(row.sha256, s.sha256);
      t.is(row.serial, s.serial);
      t.is(row.subject, s.subject);
      t.is(row.issuer, s.issuer);
      t.is(row.key_algorithm, 'EC-P256');
      t.deepEqual(row.sans, s.sans);
      t.is(row.not_before.toISOString(), s.notBefore);
      t.is(row.not_after.toISOString(), s.notAfter);
      t.true(row.is_current);
      t.is(row.source, 'internal-ca');
      t.deepEqual(row.chain_pem, [t.context.caPem]);
      // The CA's register.
      t.is(row.i_serial, normalizeSerial(s.serial));
      t.is(row.i_serial, issued.serial);
      t.is(row.i_subject, s.subject);
      t.is(row.i_sha256, s.sha256);
      t.is(row.i_pem, s.pem);
      t.is(row.i_kind, 'server');
      t.is(row.i_not_before.toISOString(), s.notBefore);
      // The definition it belongs to, and the key.
      t.is(row.d_name, issued.commonName);
      t.deepEqual(row.d_subject, { commonName: issued.commonName });
      t.deepEqual(row.d_sans, [{ type: 'dns', value: issued.commonName }]);
      t.is(row.d_issuer_type, 'internal-ca');
      t.is(row.d_key_spec, 'EC-P256');
      t.is(row.k_algorithm, 'EC-P256');
      t.is(row.k_label, issued.commonName);
      // Issued by the CA, with its C3 extension and the validity the clock gives.
      t.true(x.checkIssued(ca) && x.verify(ca.publicKey));
      t.true(x.toString().length > 0);
      t.is(s.notBefore, '2026-11-25T20:05:00.000Z');
      t.is(row.not_after.getTime(), NOW.getTime() + 397 * 86_400_000);
      t.true(x.raw.includes(Buffer.from(crlUrl)), 'CRL distribution point of the CA');
    }

    // Every key is sealed under the master key, bound to its row, and belongs to its certificate.
    const em = t.context.db.em();
    for (const issued of result.certificates) {
      const key = await openPrivateKey(em, t.context.ctx.masterKey, issued.privateKeyId);
      t.is(key.asymmetricKeyDetails?.namedCurve, 'prime256v1');
      t.is(publicKeySha256(key), publicKeySha256(new X509Certificate(byId.get(issued.certificateId)!.pem).publicKey));
    }

    // openssl verify, one file per certificate (it reads only the first certificate of a file), in one call.
    const caFile = path.join(t.context.dir, 'ca.pem');
    await writeFile(caFile, t.context.caPem);
    const files = await Promise.all(
      rows.map(async (r, i) => {
        const f = path.join(t.context.dir, `leaf-${i}.pem`);
        await writeFile(f, r.pem);
        return f;
      })
    );
    const { stdout } = await execFileAsync(
      'openssl',
      ['verify', '-x509_strict', '-purpose', 'sslserver', '-CAfile', caFile, ...files],
      {
        maxBuffer: 16 * 1024 * 1024,
      }
    );
    t.is(stdout.split('\n').filter((l) => l.endsWith(': OK')).length, 300);

    // One audit event per batch, and the chain still verifies.
    const audit = (await knex(t).raw(`select details from audit_log where action = 'ca.certificates-bulk-issued'`)) as {
      rows: Array<{ details: { count: number } }>;
    };
    t.is(audit.rows.reduce((a, r) => a + r.details.count, 0) >= 300, true);
    t.true((await verifyAuditChain(t.context.db.em())).ok);
  }
);

serial(
  'items with their own SANs, subject fields and definition names; worker threads give the same rows',
  async (t) => {
    const items = Array.from({ length: 40 }, (_, i) => ({
      commonName: `App${i}.Items.Test.Internal`,
      sans: [
        { type: 'dns' as const, value: `app${i}.items.test.internal` },
        { type: 'dns' as const, value: `*.app${i}.items.test.internal` },
        { type: 'ip' as const, value: `2001:DB8:0:0:0:0:0:${(i + 1).toString(16)}` },
        { type: 'ip' as const, value: `10.1.2.${i + 1}` },
      ],
      organization: 'Items, Inc. <ops>',
      country: 'DE',
      definitionName: `items ${i}`,
    }));
    const result = await issueBatch(t.context.ctx, { items }, { workers: 2, batchSize: 16, concurrency: 3 });
    t.is(result.workers, 2);
    t.is(result.issued, 40);
    const rows = await rowsFor(
      t,
      result.certificates.map((c) => c.certificateId)
    );
    const byId = new Map(rows.map((r) => [r.id, r]));
    for (const [i, issued] of result.certificates.entries()) {
      const row = byId.get(issued.certificateId)!;
      const s = summarizeCertificate(new X509Certificate(row.pem).raw);
      t.is(row.subject, s.subject);
      t.is(row.subject, `CN=App${i}.Items.Test.Internal, O=Items\\, Inc. \\<ops\\>, C=DE`);
      t.deepEqual(row.sans, [
        `DNS:app${i}.items.test.internal`,
        `DNS:*.app${i}.items.test.internal`,
        `IP:2001:db8::${(i + 1).toString(16)}`,
        `IP:10.1.2.${i + 1}`,
      ]);
      t.deepEqual(row.sans, s.sans);
      t.is(row.d_name, `items ${i}`);
      t.deepEqual(row.d_sans[2], { type: 'ip', value: `2001:db8::${(i + 1).toString(16)}` });
      t.is(row.i_sha256, s.sha256);
      const key = await openPrivateKey(t.context.db.em(), t.context.ctx.masterKey, issued.privateKeyId);
      t.is(publicKeySha256(key), publicKeySha256(new X509Certificate(row.pem).publicKey));
    }
  }
);

serial('hostile or conflicting input is refused before anything is issued', async (t) => {
  const before = await tableCounts(t);
  const refuse = async (
    input: Parameters<typeof issueBatch>[1],
    code: string,
    options: Parameters<typeof issueBatch>[2] = {}
  ): Promise<void> => {
    const err = await t.throwsAsync(issueBatch(t.context.ctx, input, options));
    t.true(isCertFleetError(err), String(err));
    t.is((err as { code?: string }).code, code, err?.message);
  };
  const ok = { commonName: 'fine.test.internal' };
  await refuse(
    { items: [ok, { commonName: 'x.test.internal', sans: [{ type: 'dns', value: 'bad_name!.test' }] }] },
    'CF_VALIDATION'
  );
  await refuse(
    { items: [ok, { commonName: 'x.test.internal', sans: [{ type: 'dns', value: 'evil.test\u0000.good.test' }] }] },
    'CF_VALIDATION'
  );
  await refuse(
    { items: [ok, { commonName: 'x.test.internal', sans: [{ type: 'ip', value: '300.1.1.1' }] }] },
    'CF_VALIDATION'
  );
  await refuse({ items: [ok, { commonName: 'not a host name' }] }, 'CF_VALIDATION'); // default SAN = CN: not a DNS name
  await refuse(
    { items: [{ commonName: 'a.test.internal', sans: [{ type: 'dns', value: 'b.test.internal' }] }] },
    'CF_VALIDATION'
  ); // CN not among SANs
  await refuse({ items: [ok, ok] }, 'CF_VALIDATION'); // the same definition name twice
  await refuse({ items: [{ commonName: 'x.test.internal', extra: 1 } as never] }, 'CF_VALIDATION');
  await refuse({ items: [] }, 'CF_VALIDATION');
  await refuse({ count: 0 }, 'CF_VALIDATION');
  await refuse({ count: 5, commonNamePattern: 'no-placeholder.test' }, 'CF_VALIDATION');
  await refuse({ count: 5 }, 'CF_VALIDATION', { batchSize: 0 });
  await refuse({ count: 5 }, 'CF_VALIDATION', { keySpec: 'RSA-2048' as never });
  // A definition name that is already taken: nothing issued.
  await createDefinition(
    t.context.ctx,
    {
      name: 'taken.test.internal',
      subject: { commonName: 'taken.test.internal' },
      sans: [{ type: 'dns', value: 'taken.test.internal' }],
    },
    'test'
  );
  const beforeTaken = await tableCounts(t);
  await refuse({ items: [ok, { commonName: 'taken.test.internal' }] }, 'CF_CONFLICT');
  t.deepEqual(await tableCounts(t), beforeTaken);
  const after = await tableCounts(t);
  t.is(after.certificates, before.certificates);
  t.is(after.private_keys, before.private_keys);
  t.is(after.ca_issuances, before.ca_issuances);
});

serial('an aborted run stops between batches and rejects with the reason', async (t) => {
  const before = await tableCounts(t);
  const controller = new AbortController();
  controller.abort(new Error('operator cancelled'));
  const err = await t.throwsAsync(issueBatch(t.context.ctx, { count: 50 }, { signal: controller.signal }));
  t.is(err?.message, 'operator cancelled');
  t.deepEqual(await tableCounts(t), before);
});

test('generated EC keys: PKCS#8 that OpenSSL reads, matching the SPKI; worker default follows the cores', (t) => {
  for (const spec of ['EC-P256', 'EC-P384'] as const) {
    const gen = ecKeyGenerator(spec);
    for (let i = 0; i < 300; i++) {
      const k = gen();
      const priv = crypto.createPrivateKey({ key: k.pkcs8, format: 'der', type: 'pkcs8' });
      const spki = crypto.createPublicKey(priv).export({ type: 'spki', format: 'der' });
      if (!spki.equals(k.spki)) {
        t.fail(`${spec} key ${i}: SPKI mismatch`);
        return;
      }
      const data = Buffer.from('x');
      if (
        !crypto.verify(
          null,
          data,
          crypto.createPublicKey({ key: k.spki, format: 'der', type: 'spki' }),
          crypto.sign(null, data, priv)
        )
      ) {
        t.fail(`${spec} key ${i}: signature does not verify`);
        return;
      }
    }
  }
  t.is(defaultWorkers(100_000, 2), 0);
  t.is(defaultWorkers(100, 8), 0);
  t.is(defaultWorkers(100_000, 8), 4);
  t.is(defaultWorkers(100_000, 4), 2);
});

testBench(
  'benchmark smoke run: `npm run bench -- issuance --count 50` completes and verifies everything',
  async (t) => {
    assertCommands(['openssl', 'cfssl', 'cfssljson']);
    const out = path.join(t.context.dir, 'bench.json');
    const root = path.resolve(__dirname, '..', '..', '..');
    const { stdout } = await execFileAsync(
      process.execPath,
      [
        '--import',
        'tsx',
        'bench/run.ts',
        'issuance',
        '--count',
        '50',
        '--runs',
        '1',
        '--baseline-count',
        '4',
        '--concurrency',
        '2',
        '--out',
        out,
      ],
      { cwd: root, timeout: 110_000, maxBuffer: 16 * 1024 * 1024 }
    );
    t.regex(stdout, /ratio CertFleet \/ cfssl serve/);
    const report = JSON.parse(fs.readFileSync(out, 'utf8')) as {
      ratioCertfleetToCfsslServe: number | null;
      results: Array<{
        tool: string;
        medianCertsPerS: number | null;
        verification: {
          certificates: number;
          opensslVerified: number;
          nodeVerified: number;
          failures: string[];
        } | null;
      }>;
    };
    t.is(typeof report.ratioCertfleetToCfsslServe, 'number');
    const tools = new Map(report.results.map((r) => [r.tool, r]));
    for (const [tool, n] of [
      ['certfleet', 50],
      ['cfssl-serve', 50],
      ['cfssl-gencert', 4],
      ['openssl-cli', 4],
    ] as const) {
      const r = tools.get(tool);
      t.truthy(r?.medianCertsPerS, tool);
      t.deepEqual(r?.verification?.failures, [], tool);
      t.is(r?.verification?.certificates, n, tool);
      t.is(r?.verification?.opensslVerified, n, tool);
      t.is(r?.verification?.nodeVerified, n, tool);
    }
  }
);
