/**
 * Offline delivery end to end (SPEC D3): the controller makes an offline installer archive (agent single
 * executable + passphrase-sealed bundle); on a host in its own network namespace with no route to the controller,
 * the executable installs the bundle into a real nginx with every check and writes a signed receipt; the receipt
 * uploaded afterwards is the deploy check (verified); a tampered receipt is refused.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import type { TestFn } from 'ava';
import { ROOT, buildAgentExecutable } from '../../../installers/src/build-agent';
import { startTestController, type TestController } from '../../_helpers/controller';
import { issueLeaf } from '../../_helpers/install-bundles';
import { assertCommands, testNeeding } from '../../_helpers/needs';
import { tempRoot } from '../agent/_servers';

const NEEDS = ['nginx', 'ip', 'tar'];
const test = (process.getuid?.() === 0 || process.env.CI === 'true' ? testNeeding(NEEDS) : anySkip()) as TestFn;
function anySkip(): TestFn {
  process.stderr.write('skipping offline netns test: needs root for ip netns\n');
  return testNeeding(['certfleet-needs-root-for-netns']);
}

interface Ctx {
  tc: TestController;
  token: string;
  dir: string;
  ns: string;
  port: number;
  nginx?: ChildProcess;
}
let ctx: Ctx;

const inNs = (args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}) =>
  spawnSync('ip', ['netns', 'exec', ctx.ns, ...args], { encoding: 'utf8', timeout: 60_000, ...opts });

function download(
  url: string,
  body: unknown,
  token: string
): Promise<{ status: number; body: Buffer; headers: Record<string, unknown> }> {
  const data = Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = https.request(
      `${ctx.tc.controller.url}${url}`,
      {
        method: 'POST',
        ca: ctx.tc.controller.caCertificatePem,
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
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), headers: res.headers })
        );
      }
    );
    req.on('error', reject);
    req.end(data);
  });
}

test.before(async () => {
  if (process.env.CI === 'true' || process.env.CI === '1') assertCommands(NEEDS);
  const dir = tempRoot('certfleet-offline-');
  const ns = `cf-off-${process.pid}`;
  execFileSync('ip', ['netns', 'add', ns]);
  execFileSync('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);
  ctx = { tc: undefined as unknown as TestController, token: '', dir, ns, port: 8443 };
  ctx.tc = await startTestController();
  ctx.token = await ctx.tc.adminToken();
});

test.after.always(async () => {
  if (ctx?.nginx) {
    ctx.nginx.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
  }
  await ctx?.tc?.close();
  if (ctx?.ns) spawnSync('ip', ['netns', 'delete', ctx.ns]);
  if (ctx?.dir) fs.rmSync(ctx.dir, { recursive: true, force: true });
});

test.serial(
  'D3 an offline bundle installs on a host with no route to the controller; its receipt verifies the deployment',
  async (t) => {
    // Its own output (other test files build the default one concurrently), kept under installers/dist for reuse.
    const exe = path.join(ROOT, 'installers', 'dist', 'e2e-offline', 'certfleet-agent');
    await buildAgentExecutable({ output: exe, reuse: true, log: () => undefined });
    process.env.CERTFLEET_AGENT_EXECUTABLE = exe;

    // The air-gapped host: its own network namespace (only its own loopback) running nginx on 127.0.0.1:8443.
    const host = path.join(ctx.dir, 'host');
    const prefix = path.join(host, 'nginx');
    fs.mkdirSync(path.join(prefix, 'logs'), { recursive: true });
    const certs = path.join(host, 'certs');
    const boot = path.join(certs, '.web.versions', '1-bootstrap');
    fs.mkdirSync(boot, { recursive: true });
    const first = await issueLeaf();
    fs.writeFileSync(path.join(boot, 'fullchain.pem'), first.certPem);
    fs.writeFileSync(path.join(boot, 'key.pem'), first.keyPem, { mode: 0o600 });
    const live = path.join(certs, 'web');
    fs.symlinkSync('.web.versions/1-bootstrap', live);
    const conf = path.join(prefix, 'nginx.conf');
    fs.writeFileSync(
      conf,
      `daemon off;\nworker_processes 1;\npid ${prefix}/nginx.pid;\nerror_log ${prefix}/logs/error.log warn;\n` +
        `events { worker_connections 16; }\nhttp { access_log off; client_body_temp_path ${prefix}/tmp-body;\n` +
        `proxy_temp_path ${prefix}/tmp-proxy; fastcgi_temp_path ${prefix}/tmp-fcgi; uwsgi_temp_path ${prefix}/tmp-uwsgi;\n` +
        `scgi_temp_path ${prefix}/tmp-scgi;\n server { listen 127.0.0.1:${ctx.port} ssl; server_name airgap.offline.test;\n` +
        `  ssl_certificate ${live}/fullchain.pem; ssl_certificate_key ${live}/key.pem; return 200 "ok\\n"; } }\n`
    );
    ctx.nginx = spawn('ip', ['netns', 'exec', ctx.ns, 'nginx', '-p', prefix, '-c', conf], { stdio: 'ignore' });
    for (let i = 0; i < 50; i++) {
      if (inNs(['bash', '-c', `exec 3<>/dev/tcp/127.0.0.1/${ctx.port}`]).status === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    // no route from the host to the controller
    const reach = inNs(['bash', '-c', `exec 3<>/dev/tcp/127.0.0.1/${ctx.tc.controller.port}`]);
    t.not(reach.status, 0, 'the namespace must not reach the controller');

    // Controller side: a definition with an offline target, a certificate made current, the offline archive.
    const api = (m: string, u: string, b?: unknown) => ctx.tc.request(m, u, b, ctx.token);
    const def = await api('POST', '/api/v1/definitions', {
      name: 'airgap',
      subject: { commonName: 'airgap.offline.test' },
      sans: [{ type: 'dns', value: 'airgap.offline.test' }],
      issuerType: 'internal-ca',
      processMode: 'unattended',
      deployTargets: [
        {
          serverName: 'vault-1',
          serverType: 'nginx',
          method: 'offline',
          directory: live,
          checkHost: '127.0.0.1',
          checkPort: ctx.port,
        },
      ],
    });
    t.is(def.status, 201, JSON.stringify(def.json));
    const run = await api('POST', '/api/v1/requests', { definitionId: (def.json as { id: string }).id });
    const certificateId = (run.json as { request: { certificateId: string } }).request.certificateId;
    const cert = (await api('GET', `/api/v1/certificates/${certificateId}`)).json as { sha256: string };
    const res = await download(`/api/v1/certificates/${certificateId}/offline-bundles`, { targetIndex: 0 }, ctx.token);
    t.is(res.status, 200, res.body.toString().slice(0, 300));
    const passphrase = String(res.headers['x-certfleet-passphrase']);
    const deploymentId = String(res.headers['x-certfleet-deployment-id']);
    const signingSha = String(res.headers['x-certfleet-signing-key-sha256']);
    t.regex(passphrase, /^([a-z2-7]{4}-){6}[a-z2-7]{4}$/);

    // Carried to the host: unpack, write the passphrase file, run the executable inside the namespace.
    const carry = path.join(host, 'carried');
    fs.mkdirSync(carry);
    fs.writeFileSync(path.join(carry, 'offline.tar.gz'), res.body);
    execFileSync('tar', ['-xzf', 'offline.tar.gz'], { cwd: carry });
    const unpacked = path.join(
      carry,
      fs.readdirSync(carry).find((n) => n.startsWith('certfleet-offline-'))!
    );
    t.deepEqual(fs.readdirSync(unpacked).sort(), ['README.txt', 'bundle-signing.pub', 'bundle.age', 'certfleet-agent']);
    t.true(fs.readFileSync(path.join(unpacked, 'README.txt'), 'utf8').includes(signingSha));
    fs.writeFileSync(path.join(host, 'passphrase.txt'), `${passphrase}\n`, { mode: 0o600 });
    const nginxArgs = ['-p', prefix, '-c', conf];
    fs.writeFileSync(
      path.join(host, 'agent.json'),
      JSON.stringify({
        stateDir: path.join(host, 'state'),
        allowedRoots: [certs],
        probeTimeoutMs: 5000,
        commands: {
          nginx: { validate: ['nginx', '-t', '-q', ...nginxArgs], reload: ['nginx', ...nginxArgs, '-s', 'reload'] },
        },
      })
    );
    const args = [
      path.join(unpacked, 'certfleet-agent'),
      'install-bundle',
      path.join(unpacked, 'bundle.age'),
      '--passphrase-file',
      path.join(host, 'passphrase.txt'),
      '--expect-signing-key-sha256',
      signingSha,
      '--receipt',
      path.join(host, 'receipt.json'),
      '--config',
      path.join(host, 'agent.json'),
    ];
    const env = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };
    const out = inNs(['env', '-i', `PATH=${env.PATH}`, ...args]);
    t.is(out.status, 0, `${out.stdout}\n${out.stderr}`);
    const summary = JSON.parse(out.stdout.trim()) as { status: string; verified: boolean; reason: string };
    t.deepEqual([summary.status, summary.verified, summary.reason], ['installed', true, 'Installed']);
    t.true(out.stderr.includes(`bundle-signing key SHA-256: ${signingSha}`));

    // The same bundle again installs nothing (idempotent); a wrong expected signing key is refused.
    const againArgs = args.map((a) => (a === path.join(host, 'receipt.json') ? path.join(host, 'receipt-2.json') : a));
    const again = inNs(['env', '-i', `PATH=${env.PATH}`, ...againArgs]);
    t.is(again.status, 0, again.stderr);
    t.is((JSON.parse(again.stdout.trim()) as { reason: string }).reason, 'AlreadyInstalled');
    const wrong = inNs([
      'env',
      '-i',
      `PATH=${env.PATH}`,
      ...args.slice(0, 5),
      '--expect-signing-key-sha256',
      'ab'.repeat(32),
    ]);
    t.not(wrong.status, 0);
    t.regex(wrong.stderr, /CF_BUNDLE_SIGNATURE/);

    // A wrong passphrase is refused before anything is written, and no receipt is produced.
    fs.writeFileSync(path.join(host, 'wrong.txt'), 'aaaa-bbbb-cccc-dddd-eeee-ffff-gggg\n', { mode: 0o600 });
    const liveBefore = fs.readlinkSync(live);
    const wrongPass = inNs([
      'env',
      '-i',
      `PATH=${env.PATH}`,
      ...args
        .map((a) => (a === path.join(host, 'passphrase.txt') ? path.join(host, 'wrong.txt') : a))
        .map((a) => (a === path.join(host, 'receipt.json') ? path.join(host, 'receipt-wrong.json') : a)),
    ]);
    t.not(wrongPass.status, 0);
    t.regex(wrongPass.stderr, /CF_BUNDLE_DECRYPT/);
    t.false(fs.existsSync(path.join(host, 'receipt-wrong.json')));
    t.is(fs.readlinkSync(live), liveBefore);

    // Back at the controller: the receipt is the deploy check.
    const receipt = JSON.parse(fs.readFileSync(path.join(host, 'receipt.json'), 'utf8')) as {
      receipt: string;
      signature: string;
    };
    const tampered = { ...receipt, receipt: receipt.receipt.replace('"installed"', '"failed"') };
    const bad = await api('POST', `/api/v1/deployments/${deploymentId}/receipt`, tampered);
    t.is(bad.status, 422);
    t.is((bad.json as { error: { code: string } }).error.code, 'CF_RECEIPT_INVALID');
    const accepted = await api('POST', `/api/v1/deployments/${deploymentId}/receipt`, receipt);
    t.is(accepted.status, 200, JSON.stringify(accepted.json));
    const d = accepted.json as { status: string; servedSha256: string; method: string };
    t.deepEqual([d.status, d.method, d.servedSha256], ['verified', 'offline', cert.sha256]);
  }
);
