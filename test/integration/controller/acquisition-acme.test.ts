import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestFn } from 'ava';
import { startHttp01Responder, type Http01Responder } from '../../../controller/src/issuers/acme/http01-responder';
import { builtInIssuers } from '../../../controller/src/issuers/built-in';
import { recordingNotifier } from '../../../controller/src/services/acquisition/notifier';
import { startTestController, type TestController } from '../../_helpers/controller';
import { assertCommands, testNeeding } from '../../_helpers/needs';
import { startPebble, type RunningPebble } from '../../_helpers/pebble';

interface Ctx {
  tc: TestController;
  token: string;
  pebble: RunningPebble;
  responder: Http01Responder;
  dir: string;
}
const NEEDS = ['pebble', 'pebble-challtestsrv', 'openssl'];
const test = testNeeding<Ctx>(NEEDS) as TestFn<Ctx>;

/** DNS-01 hook for the test: sets/clears the TXT record in pebble-challtestsrv through its management API. */
const HOOK = `
const http = require('node:http');
const e = process.env;
const path = e.CERTFLEET_ACME_ACTION === 'present' ? '/set-txt' : '/clear-txt';
const req = http.request(process.argv[2] + path, { method: 'POST' }, (res) => { res.resume(); res.on('end', () => process.exit(res.statusCode === 200 ? 0 : 3)); });
req.on('error', () => process.exit(4));
req.end(JSON.stringify({ host: e.CERTFLEET_ACME_RECORD_NAME + '.', value: e.CERTFLEET_ACME_RECORD_VALUE }));
`;

test.before(async (t) => {
  assertCommands(NEEDS);
  const responder = await startHttp01Responder({ host: '127.0.0.1', port: 0 });
  const pebble = await startPebble({ httpPort: responder.port });
  const tc = await startTestController({
    acquisition: () => ({ issuers: builtInIssuers, notifier: recordingNotifier(), http01Responder: responder }),
  });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certfleet-acme-acq-'));
  fs.writeFileSync(path.join(dir, 'hook.js'), HOOK);
  t.context = { tc, token: await tc.adminToken(), pebble, responder, dir };
});
test.after.always(async (t) => {
  await t.context.tc?.close();
  await t.context.pebble?.stop();
  await t.context.responder?.close();
  if (t.context.dir) fs.rmSync(t.context.dir, { recursive: true, force: true });
});

async function acquire(
  t: { context: Ctx },
  name: string,
  sans: string[],
  issuerConfig: Record<string, unknown>
): Promise<{
  status: string;
  stoppedBecause: string;
  certificate: { sans: string[]; chainPem: string[]; isCurrent: boolean };
}> {
  const { tc, token } = t.context;
  const def = await tc.request(
    'POST',
    '/api/v1/definitions',
    {
      name,
      subject: { commonName: sans[0] },
      sans: sans.map((value) => ({ type: 'dns', value })),
      issuerType: 'acme',
      processMode: 'unattended',
      issuerConfig,
    },
    token
  );
  if (def.status !== 201) throw new Error(JSON.stringify(def.json));
  const run = (await tc.request('POST', '/api/v1/requests', { definitionId: (def.json as { id: string }).id }, token))
    .json as {
    request: { status: string; certificateId: string; waitingFor: string | null };
    stoppedBecause: string;
  };
  if (run.request.status !== 'completed')
    throw new Error(`not completed: ${JSON.stringify(run.request)}\n${t.context.pebble.logs().slice(-2000)}`);
  const certificate = (await tc.request('GET', `/api/v1/certificates/${run.request.certificateId}`, undefined, token))
    .json as { sans: string[]; chainPem: string[]; isCurrent: boolean };
  return { status: run.request.status, stoppedBecause: run.stoppedBecause, certificate };
}

const baseConfig = (p: RunningPebble): Record<string, unknown> => ({
  directoryUrl: p.directoryUrl,
  caBundlePem: p.tlsCaPem,
  trustAnchorsPem: p.rootPem,
  pollIntervalMs: 100,
});

test.serial(
  'A2 O2 ACME HTTP-01 against pebble: an unattended definition is issued, verified and made current',
  async (t) => {
    const r = await acquire(t, 'acme-http', ['www.acme-e2e.test', 'api.acme-e2e.test'], {
      ...baseConfig(t.context.pebble),
      challenge: 'http-01',
    });
    t.is(r.stoppedBecause, 'completed');
    t.true(r.certificate.isCurrent);
    t.deepEqual([...r.certificate.sans].sort(), ['DNS:api.acme-e2e.test', 'DNS:www.acme-e2e.test']);
    t.true(r.certificate.chainPem.length >= 1, 'chain completed up to pebble’s root');
    t.is(t.context.responder.size(), 0, 'challenge answers are removed afterwards');
  }
);

test.serial('A2 O2 ACME DNS-01 through a hook command against pebble, including a wildcard', async (t) => {
  const hook = {
    command: [process.execPath, path.join(t.context.dir, 'hook.js'), t.context.pebble.challtestsrvUrl],
    timeoutMs: 10_000,
  };
  const r = await acquire(t, 'acme-dns', ['dns.acme-e2e.test', '*.dns.acme-e2e.test'], {
    ...baseConfig(t.context.pebble),
    challenge: 'dns-01',
    dnsHook: hook,
  });
  t.is(r.stoppedBecause, 'completed');
  t.true(r.certificate.sans.includes('DNS:*.dns.acme-e2e.test'));
});
