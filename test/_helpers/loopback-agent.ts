/**
 * Agents and served certificates on loopback for controller integration tests (SPEC M4, S1, G4): enroll an agent
 * identity through a join token, run the real agent runtime in this process, and a Lifecycle-Managed definition
 * whose current certificate (the controller's internal CA) a loopback TLS server serves.
 */
import type { KeyObject } from 'node:crypto';
import path from 'node:path';
import tls from 'node:tls';
import { AgentRuntime } from '../../agent/src/agent';
import { parseAgentConfig } from '../../agent/src/config';
import { enroll } from '../../agent/src/enroll';
import { StateStore } from '../../agent/src/state/state-store';
import type { Certificate } from '../../controller/src/domain/certificate';
import { openPrivateKey } from '../../controller/src/secrets/key-vault';
import { CertificateEntity } from '../../controller/src/storage/entities';
import type { TestController } from './controller';

/** An enrolled agent identity (not connected yet). */
export interface EnrolledAgent {
  agentId: string;
  store: StateStore;
}

export const quietLog = { info: () => undefined, warn: () => undefined };

/** Enrolls agent `name` (state in `<dir>/<name>`; hostname `name` unless given) with a fresh join token (label `name`, and `site` when given). */
export async function enrollLoopbackAgent(
  tc: TestController,
  token: string,
  dir: string,
  name: string,
  opts: { site?: string; hostname?: string } = {}
): Promise<EnrolledAgent> {
  const created = await tc.request(
    'POST',
    '/api/v1/agents/join-tokens',
    { label: name, ...(opts.site ? { site: opts.site } : {}) },
    token
  );
  if (created.status !== 201) throw new Error(JSON.stringify(created.json));
  const { token: joinToken, controllerCaSha256 } = created.json as { token: string; controllerCaSha256: string };
  const store = new StateStore(path.join(dir, name));
  const { agentId } = await enroll(store, {
    controller: `127.0.0.1:${tc.controller.agentServer.port}`,
    token: joinToken,
    caSha256: controllerCaSha256,
    hostname: opts.hostname ?? name,
  });
  return { agentId, store };
}

/** Starts the agent runtime of an enrolled identity (files allowed under `allowedRoot`); resolves once connected. */
export async function startAgentRuntime(store: StateStore, allowedRoot: string): Promise<AgentRuntime> {
  const runtime = new AgentRuntime({
    store,
    config: parseAgentConfig({ stateDir: store.dir, allowedRoots: [allowedRoot] }),
    log: quietLog,
  });
  const connected = new Promise<void>((r) => runtime.once('connected', r));
  void runtime.start().catch(() => undefined);
  await connected;
  return runtime;
}

/** A Lifecycle-Managed internal-CA definition `name` for `cn`, its first request, its current certificate and key. */
export async function issueCurrentCertificate(
  tc: TestController,
  token: string,
  name: string,
  cn: string
): Promise<{ definitionId: string; certificateId: string; cert: Certificate; key: KeyObject }> {
  const api = (m: string, u: string, b?: unknown) => tc.request(m, u, b, token);
  const def = await api('POST', '/api/v1/definitions', {
    name,
    subject: { commonName: cn },
    sans: [{ type: 'dns', value: cn }],
    issuerType: 'internal-ca',
    processMode: 'unattended',
  });
  if (def.status !== 201) throw new Error(JSON.stringify(def.json));
  const definitionId = (def.json as { id: string }).id;
  const req = await api('POST', '/api/v1/requests', { definitionId });
  if (req.status !== 201) throw new Error(JSON.stringify(req.json));
  const certificateId = (req.json as { request: { certificateId: string } }).request.certificateId;
  const em = tc.controller.ctx.db.em().fork();
  const cert = await em.findOneOrFail(CertificateEntity, { id: certificateId });
  const key = await openPrivateKey(em, tc.controller.ctx.masterKey, cert.privateKeyId as string);
  return { definitionId, certificateId, cert, key };
}

/** A TLS server on 127.0.0.1 (free port) serving `cert` with its chain; it ends every connection after the handshake. */
export async function serveOnLoopback(cert: Certificate, key: KeyObject): Promise<tls.Server> {
  const server = tls.createServer(
    { key: key.export({ type: 'pkcs8', format: 'pem' }), cert: [cert.pem, ...cert.chainPem].join('\n') },
    (s) => s.end()
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return server;
}
