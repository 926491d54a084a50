/**
 * The shipped agent single executable on line (SPEC G1, G2, G5, D2): run with an empty environment, it enrolls
 * with a join token and the CA fingerprint, holds the mutual-TLS stream (`run`), installs a deployment pushed by
 * the controller (file installer) and reports it; `status` shows the installed version; SIGTERM stops it.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { ROOT, buildAgentExecutable } from '../../../installers/src/build-agent';
import { startTestController, type TestController } from '../../_helpers/controller';
import { tempRoot } from '../agent/_servers';

let tc: TestController | undefined;

/** Runs the executable without blocking this process (the controller under test lives in it). */
function runExe(
  exe: string,
  args: string[],
  env: NodeJS.ProcessEnv
): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(exe, args, { env, encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ status: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr })
    );
  });
}
let agent: ChildProcess | undefined;
let dir: string | undefined;

test.after.always(async () => {
  agent?.kill('SIGKILL');
  await tc?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('G5 D2 the agent executable enrolls, runs and installs a pushed certificate (env -i)', async (t) => {
  const exe = path.join(ROOT, 'installers', 'dist', 'e2e-online', 'certfleet-agent');
  await buildAgentExecutable({ output: exe, reuse: true, log: () => undefined });
  dir = tempRoot('certfleet-exe-online-');
  tc = await startTestController({ agentServer: { materializeMs: 300 } });
  const token = await tc.adminToken();
  const api = (m: string, u: string, b?: unknown) => tc!.request(m, u, b, token);
  const created = (await api('POST', '/api/v1/agents/join-tokens', { label: 'exe' })).json as {
    token: string;
    controllerCaSha256: string;
  };
  const certs = path.join(dir, 'certs');
  fs.mkdirSync(certs);
  const configFile = path.join(dir, 'agent.json');
  fs.writeFileSync(configFile, JSON.stringify({ stateDir: path.join(dir, 'state'), allowedRoots: [certs] }));
  const env = { PATH: '/nonexistent' };
  const enrolled = await runExe(
    exe,
    [
      'enroll',
      '--controller',
      `127.0.0.1:${tc.controller.agentServer.port}`,
      '--token',
      created.token,
      '--ca-sha256',
      created.controllerCaSha256,
      '--hostname',
      'exe-host',
      '--config',
      configFile,
    ],
    env
  );
  t.is(enrolled.status, 0, enrolled.stderr);
  const { agentId } = JSON.parse(enrolled.stdout.trim()) as { agentId: string };
  t.false(enrolled.stdout.includes(created.token), 'the token is never echoed');

  agent = spawn(exe, ['run', '--config', configFile], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  agent.stderr?.on('data', (c: Buffer) => (log += c.toString()));

  const def = await api('POST', '/api/v1/definitions', {
    name: 'exe-files',
    subject: { commonName: 'files.exe.test' },
    sans: [{ type: 'dns', value: 'files.exe.test' }],
    issuerType: 'internal-ca',
    processMode: 'unattended',
    deployTargets: [
      { serverName: 'files', serverType: 'file-command', method: 'agent', agentId, directory: path.join(certs, 'app') },
    ],
  });
  t.is(def.status, 201, JSON.stringify(def.json));
  const run = await api('POST', '/api/v1/requests', { definitionId: (def.json as { id: string }).id });
  const certificateId = (run.json as { request: { certificateId: string } }).request.certificateId;
  const cert = (await api('GET', `/api/v1/certificates/${certificateId}`)).json as { sha256: string };

  let status = '';
  for (let i = 0; i < 150 && !['installed', 'verified', 'failed', 'rolled-back'].includes(status); i++) {
    await new Promise((r) => setTimeout(r, 200));
    const list = (
      (await api('GET', `/api/v1/deployments?certificateId=${certificateId}`)).json as {
        items: Array<{ status: string }>;
      }
    ).items;
    status = list[0]?.status ?? '';
  }
  t.is(status, 'installed', log);
  const onDisk = new crypto.X509Certificate(fs.readFileSync(path.join(certs, 'app', 'cert.pem')));
  t.is(crypto.createHash('sha256').update(onDisk.raw).digest('hex'), cert.sha256);
  t.is(fs.statSync(path.join(certs, 'app', 'key.pem')).mode & 0o777, 0o600);

  const st = await runExe(exe, ['status', '--config', configFile], env);
  t.is(st.status, 0, st.stderr);
  const report = JSON.parse(st.stdout.trim()) as { agentId: string; installed: Record<string, { version: number }> };
  t.is(report.agentId, agentId);
  t.deepEqual(
    Object.values(report.installed).map((v) => v.version),
    [1]
  );

  const exited = new Promise<number | null>((resolve) => agent!.once('exit', (code) => resolve(code)));
  agent.kill('SIGTERM');
  t.is(await exited, 0);
});
