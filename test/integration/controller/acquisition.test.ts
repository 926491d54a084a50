import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestFn } from 'ava';
import { fixedClock } from '@certfleet/shared';
import { builtInIssuers } from '../../../controller/src/issuers/built-in';
import { scanRenewals, startRenewal } from '../../../controller/src/scheduler/jobs/acquisition';
import { recordingNotifier } from '../../../controller/src/services/acquisition/notifier';
import { CaIssuanceEntity, RequestEntity } from '../../../controller/src/storage/entities';
import { runAcquisition } from '../../../controller/src/services/acquisition/acquisition-service';
import { LockMode } from '@mikro-orm/core';
import { ADMIN_PASSWORD, startTestController, type TestController } from '../../_helpers/controller';
import { assertCommands, testNeeding } from '../../_helpers/needs';

interface Ctx {
  tc: TestController;
  token: string;
  clock: ReturnType<typeof fixedClock>;
  notifier: ReturnType<typeof recordingNotifier>;
  tmp: string;
}
const test = testNeeding<Ctx>(['openssl']) as TestFn<Ctx>;

test.before(async (t) => {
  assertCommands(['openssl']);
  const clock = fixedClock(new Date());
  const notifier = recordingNotifier();
  const tc = await startTestController({ clock, acquisition: () => ({ issuers: builtInIssuers, notifier }) });
  t.context = {
    tc,
    token: await tc.adminToken(),
    clock,
    notifier,
    tmp: fs.mkdtempSync(path.join(os.tmpdir(), 'certfleet-acq-')),
  };
});
test.after.always(async (t) => {
  await t.context.tc?.close();
  if (t.context.tmp) fs.rmSync(t.context.tmp, { recursive: true, force: true });
});

type Json = Record<string, unknown>;
interface Run {
  request: {
    id: string;
    status: string;
    kind: string;
    waitingFor: string | null;
    certificateId: string | null;
    awaitingConfirmation: boolean;
  };
  stoppedBecause: string;
  steps: string[];
}
const api = async (t: { context: Ctx }, method: string, url: string, body?: unknown) =>
  t.context.tc.request(method, url, body, t.context.token);
const def = async (t: { context: Ctx }, name: string, extra: Json = {}): Promise<string> => {
  const res = await api(t, 'POST', '/api/v1/definitions', {
    name,
    subject: { commonName: `${name}.acq.test`, organization: 'Example' },
    sans: [{ type: 'dns', value: `${name}.acq.test` }],
    ...extra,
  });
  if (res.status !== 201) throw new Error(JSON.stringify(res.json));
  return (res.json as { id: string }).id;
};
function openssl(args: string[], cwd: string): string {
  return execFileSync('openssl', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

test.serial('A2 O2 internal CA, unattended: issued, verified and made current with zero operator steps', async (t) => {
  const id = await def(t, 'auto', { issuerType: 'internal-ca', processMode: 'unattended', keySpec: 'EC-P256' });
  const res = await api(t, 'POST', '/api/v1/requests', { definitionId: id });
  t.is(res.status, 201, JSON.stringify(res.json));
  const run = res.json as Run;
  t.is(run.stoppedBecause, 'completed');
  t.deepEqual(run.steps, ['generate-key', 'create-csr', 'order', 'receive', 'verify', 'make-current']);
  t.is(run.request.kind, 'new');
  const cert = (await api(t, 'GET', `/api/v1/certificates/${run.request.certificateId}`)).json as {
    pem: string;
    chainPem: string[];
    isCurrent: boolean;
    sans: string[];
  };
  t.true(cert.isCurrent);
  t.deepEqual(cert.sans, ['DNS:auto.acq.test']);
  // The chain verifies with openssl against the built-in CA.
  const dir = t.context.tmp;
  fs.writeFileSync(path.join(dir, 'leaf.pem'), cert.pem);
  fs.writeFileSync(path.join(dir, 'ca.pem'), cert.chainPem.join(''));
  t.regex(openssl(['verify', '-CAfile', 'ca.pem', 'leaf.pem'], dir), /leaf.pem: OK/);
  // C2: the issuance is recorded in the repository and linked to the certificate.
  const rows = await t.context.tc.controller.ctx.db
    .em()
    .find(CaIssuanceEntity, { certificateId: run.request.certificateId });
  t.is(rows.length, 1);
  t.is(rows[0]!.kind, 'server');
  t.true(t.context.notifier.sent.some((m) => m.template === 'certificate-issued'));

  // R2: the next request for the same definition is a renewal and replaces the current certificate.
  const second = (await api(t, 'POST', '/api/v1/requests', { definitionId: id })).json as Run;
  t.is(second.request.kind, 'renewal');
  t.is(second.stoppedBecause, 'completed');
  const current = (await api(t, 'GET', `/api/v1/certificates?definitionId=${id}&current=true`)).json as {
    items: Array<{ id: string }>;
  };
  t.deepEqual(
    current.items.map((c) => c.id),
    [second.request.certificateId]
  );
});

test.serial('O2 interactive mode stops before every step and runs one step per confirmation', async (t) => {
  const id = await def(t, 'inter', { issuerType: 'internal-ca', processMode: 'interactive' });
  const start = (await api(t, 'POST', '/api/v1/requests', { definitionId: id })).json as Run;
  t.is(start.stoppedBecause, 'confirm');
  t.is(start.request.status, 'created');
  t.true(start.request.awaitingConfirmation);
  const seen: string[] = [];
  for (let i = 0; i < 10 && seen[seen.length - 1] !== 'completed'; i++) {
    const r = (await api(t, 'POST', `/api/v1/requests/${start.request.id}/confirm`)).json as Run;
    t.true(r.steps.length <= 1, 'exactly one step per confirmation');
    seen.push(r.request.status);
  }
  t.deepEqual(seen, ['key-generated', 'csr-created', 'issued', 'received', 'verified', 'completed']);
  const extra = await api(t, 'POST', `/api/v1/requests/${start.request.id}/confirm`);
  t.is(extra.status, 409);
});

test.serial(
  'O2 an unattended process stalls on a bad issuer setting, names it, notifies, and resumes once fixed',
  async (t) => {
    const id = await def(t, 'stall', {
      issuerType: 'internal-ca',
      processMode: 'unattended',
      issuerConfig: { caId: crypto.randomUUID() },
    });
    const before = t.context.notifier.sent.length;
    const run = (await api(t, 'POST', '/api/v1/requests', { definitionId: id })).json as Run;
    t.is(run.stoppedBecause, 'waiting');
    t.is(run.request.status, 'waiting');
    t.regex(run.request.waitingFor ?? '', /^order: /);
    const mail = t.context.notifier.sent.slice(before).find((m) => m.template === 'stalled-process');
    t.truthy(mail, 'the administrator is notified');
    t.is(mail!.data.requestId, run.request.id);
    t.is((await api(t, 'PATCH', `/api/v1/definitions/${id}`, { issuerConfig: {} })).status, 200);
    const resumed = (await api(t, 'POST', `/api/v1/requests/${run.request.id}/resume`, {})).json as Run;
    t.is(resumed.stoppedBecause, 'completed', JSON.stringify(resumed.request.waitingFor));
    t.is(resumed.request.status, 'completed');
  }
);

test.serial('O1 a monitored-only definition refuses to start acquisition', async (t) => {
  const id = await def(t, 'mon', { operationMode: 'monitored' });
  const res = await api(t, 'POST', '/api/v1/requests', { definitionId: id });
  t.is(res.status, 409);
  t.regex((res.json as { error: { message: string } }).error.message, /monitored-only/);
});

test.serial(
  'A2 A4 manual flow with a CA simulated by `openssl ca`: CSR out, order data, certificate in, chain completed from known intermediates',
  async (t) => {
    const dir = fs.mkdtempSync(path.join(t.context.tmp, 'opensslca-'));
    // A root and an intermediate run by `openssl ca`, as a commercial CA would.
    openssl(
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        'root.key',
        '-out',
        'root.pem',
        '-days',
        '3650',
        '-subj',
        '/CN=Vendor Root/O=Vendor',
        '-addext',
        'basicConstraints=critical,CA:true',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign',
      ],
      dir
    );
    openssl(
      [
        'req',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        'int.key',
        '-out',
        'int.csr',
        '-subj',
        '/CN=Vendor Issuing CA/O=Vendor',
      ],
      dir
    );
    fs.writeFileSync(
      path.join(dir, 'int.ext'),
      'basicConstraints=critical,CA:true,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n'
    );
    openssl(
      [
        'x509',
        '-req',
        '-in',
        'int.csr',
        '-CA',
        'root.pem',
        '-CAkey',
        'root.key',
        '-CAcreateserial',
        '-out',
        'int.pem',
        '-days',
        '1825',
        '-extfile',
        'int.ext',
      ],
      dir
    );
    fs.mkdirSync(path.join(dir, 'newcerts'));
    fs.writeFileSync(path.join(dir, 'index.txt'), '');
    fs.writeFileSync(path.join(dir, 'serial'), '1000\n');
    fs.writeFileSync(
      path.join(dir, 'ca.cnf'),
      [
        '[ ca ]',
        'default_ca = vendor',
        '[ vendor ]',
        `dir = ${dir}`,
        'database = $dir/index.txt',
        'new_certs_dir = $dir/newcerts',
        'serial = $dir/serial',
        'certificate = $dir/int.pem',
        'private_key = $dir/int.key',
        'default_md = sha256',
        'default_days = 90',
        'policy = anything',
        'copy_extensions = copy',
        'x509_extensions = leaf_ext',
        'unique_subject = no',
        '[ anything ]',
        'commonName = supplied',
        'organizationName = optional',
        '[ leaf_ext ]',
        'basicConstraints = CA:false',
        'keyUsage = critical,digitalSignature',
        'extendedKeyUsage = serverAuth',
      ].join('\n') + '\n'
    );
    const signAt = async (requestId: string, name: string): Promise<string> => {
      const csr = await api(t, 'GET', `/api/v1/requests/${requestId}/csr`);
      t.is(csr.status, 200);
      fs.writeFileSync(path.join(dir, `${name}.csr`), String(csr.json));
      openssl(['ca', '-batch', '-config', 'ca.cnf', '-in', `${name}.csr`, '-out', `${name}.pem`, '-notext'], dir);
      return fs.readFileSync(path.join(dir, `${name}.pem`), 'utf8');
    };

    const id = await def(t, 'commercial', { issuerType: 'manual', processMode: 'unattended', productId: 'sectigo-ov' });
    const start = (await api(t, 'POST', '/api/v1/requests', { definitionId: id })).json as Run;
    t.is(start.request.status, 'ordered');
    const leaf = await signAt(start.request.id, 'leaf1');
    const chain =
      fs.readFileSync(path.join(dir, 'int.pem'), 'utf8') + fs.readFileSync(path.join(dir, 'root.pem'), 'utf8');
    const done = (
      await api(t, 'POST', `/api/v1/requests/${start.request.id}/certificate`, {
        certificatePem: leaf,
        chainPem: chain,
        orderNumber: 'SO-1001',
        orderDate: '2026-11-24T09:00:00.000Z',
      })
    ).json as Run;
    t.is(done.stoppedBecause, 'completed', JSON.stringify(done));
    const purchases = (await api(t, 'GET', '/api/v1/history/purchases')).json as {
      items: Array<{ orderNumber: string | null; requestId: string }>;
    };
    t.true(purchases.items.some((p) => p.requestId === start.request.id && p.orderNumber === 'SO-1001'));

    // A second purchase uploaded WITHOUT its chain: completed from the intermediates the repository already knows.
    const id2 = await def(t, 'commercial2', { issuerType: 'manual', processMode: 'unattended' });
    const start2 = (await api(t, 'POST', '/api/v1/requests', { definitionId: id2 })).json as Run;
    const leaf2 = await signAt(start2.request.id, 'leaf2');
    const done2 = (await api(t, 'POST', `/api/v1/requests/${start2.request.id}/certificate`, { certificatePem: leaf2 }))
      .json as Run;
    t.is(done2.stoppedBecause, 'completed', JSON.stringify(done2));
    const cert2 = (await api(t, 'GET', `/api/v1/certificates/${done2.request.certificateId}`)).json as {
      chainPem: string[];
    };
    t.is(cert2.chainPem.length, 2, 'intermediate and root found');

    // A certificate for another key is refused at "receive" and the process waits with the reason.
    const id3 = await def(t, 'commercial3', { issuerType: 'manual', processMode: 'unattended' });
    const start3 = (await api(t, 'POST', '/api/v1/requests', { definitionId: id3 })).json as Run;
    const wrong = (await api(t, 'POST', `/api/v1/requests/${start3.request.id}/certificate`, { certificatePem: leaf2 }))
      .json as Run;
    t.is(wrong.request.status, 'waiting');
    t.regex(wrong.request.waitingFor ?? '', /does not match the request key/);
  }
);

test.serial(
  'A5 renewal starts by itself inside the lead time (controlled clock), never twice, and interactive ones are listed as overdue',
  async (t) => {
    const { clock } = t.context;
    const id = await def(t, 'renew-me', { issuerType: 'internal-ca', processMode: 'unattended', renewalLeadDays: 60 });
    const first = (await api(t, 'POST', '/api/v1/requests', { definitionId: id })).json as Run;
    const cert = (await api(t, 'GET', `/api/v1/certificates/${first.request.certificateId}`)).json as {
      notAfter: string;
    };
    const inter = await def(t, 'renew-by-hand', {
      issuerType: 'internal-ca',
      processMode: 'interactive',
      renewalLeadDays: 60,
    });
    const r = (await api(t, 'POST', '/api/v1/requests', { definitionId: inter })).json as Run;
    for (let i = 0; i < 8 && r.request.status !== 'completed'; i++)
      Object.assign(r, (await api(t, 'POST', `/api/v1/requests/${r.request.id}/confirm`)).json);

    const deps = {
      ctx: t.context.tc.controller.ctx,
      acquisition: { issuers: builtInIssuers, notifier: t.context.notifier },
      log: t.context.tc.controller.ctx.log,
      renewalJitterSeconds: 600,
    };
    const sent: Array<{
      name: string;
      data: { definitionId: string };
      options: { startAfter: number; singletonKey: string };
    }> = [];
    const boss = {
      send: async (name: string, data: object, options: object) => (
        sent.push({ name, data: data as never, options: options as never }),
        'job'
      ),
    };

    t.is(await scanRenewals(deps, boss), 0, 'nothing is due right after issuance');
    clock.set(new Date(new Date(cert.notAfter).getTime() - 59 * 86_400_000));
    // Months later: the old API session has expired (absolute timeout), log in again.
    t.is((await api(t, 'GET', '/api/v1/auth/me')).status, 401);
    const login = await t.context.tc.request('POST', '/api/v1/auth/login', {
      username: 'admin',
      password: ADMIN_PASSWORD,
    });
    t.context.token = (login.json as { token: string }).token;
    const due = (await api(t, 'GET', '/api/v1/renewals/due')).json as {
      items: Array<{ definitionId: string; processMode: string }>;
    };
    t.true(
      due.items.some((d) => d.definitionId === inter && d.processMode === 'interactive'),
      'the interactive definition is overdue'
    );
    await scanRenewals(deps, boss);
    const mine = sent.filter((s) => s.data.definitionId === id);
    t.is(mine.length, 1, 'the unattended definition is queued once');
    t.false(
      sent.some((s) => s.data.definitionId === inter),
      'interactive definitions are not started automatically'
    );
    t.true(
      mine[0]!.options.startAfter >= 0 && mine[0]!.options.startAfter <= 600,
      'start is jittered inside the window'
    );
    t.is(mine[0]!.options.singletonKey, id);

    // Two controllers picking up the same renewal at once: exactly one starts it.
    const results = await Promise.all([startRenewal(deps, id), startRenewal(deps, id)]);
    t.deepEqual([...results].sort(), ['skipped', 'started']);
    const reqs = (await api(t, 'GET', `/api/v1/requests?definitionId=${id}`)).json as {
      items: Array<{ kind: string; status: string }>;
    };
    t.is(reqs.items.filter((x) => x.kind === 'renewal').length, 1);
    t.is(reqs.items.find((x) => x.kind === 'renewal')!.status, 'completed');
  }
);

test.serial(
  'A4 R3 making an acquired certificate current opens a pending deployment record per deploy target',
  async (t) => {
    // ava copies the context into each test, and the renewal test moved the clock months ahead: log in afresh.
    const login = await t.context.tc.request('POST', '/api/v1/auth/login', {
      username: 'admin',
      password: ADMIN_PASSWORD,
    });
    t.context.token = (login.json as { token: string }).token;
    const id = await def(t, 'deployed', {
      issuerType: 'internal-ca',
      processMode: 'unattended',
      deployTargets: [
        { serverName: 'web-a', serverType: 'nginx' },
        { serverName: 'mail-1', serverType: 'postfix' },
      ],
    });
    const run = (await api(t, 'POST', '/api/v1/requests', { definitionId: id })).json as Run;
    t.is(run.stoppedBecause, 'completed');
    const res = (await api(t, 'GET', '/api/v1/history/deployments?limit=500')).json as {
      items: Array<{ certificateId: string; target: string; status: string }>;
    };
    const mine = res.items.filter((d) => d.certificateId === run.request.certificateId);
    t.deepEqual(mine.map((d) => `${d.target}:${d.status}`).sort(), ['nginx:web-a:pending', 'postfix:mail-1:pending']);
  }
);

test.serial('O2 a request another worker holds is skipped as busy, not run twice', async (t) => {
  const login = await t.context.tc.request('POST', '/api/v1/auth/login', {
    username: 'admin',
    password: ADMIN_PASSWORD,
  });
  t.context.token = (login.json as { token: string }).token;
  const id = await def(t, 'held', { issuerType: 'manual', processMode: 'unattended' });
  const run = (await api(t, 'POST', '/api/v1/requests', { definitionId: id })).json as Run;
  t.is(run.request.status, 'ordered');
  const ctx = t.context.tc.controller.ctx;
  const deps = { issuers: builtInIssuers, notifier: t.context.notifier };
  await ctx.db.em().transactional(async (em) => {
    await em.findOne(RequestEntity, { id: run.request.id }, { lockMode: LockMode.PESSIMISTIC_WRITE });
    const other = await runAcquisition(ctx, deps, run.request.id, 'test');
    t.is(other.stoppedBecause, 'busy');
  });
  const after = await runAcquisition(ctx, deps, run.request.id, 'test');
  t.is(after.stoppedBecause, 'pending', 'once free, the request runs again (still waiting for the vendor)');
});
