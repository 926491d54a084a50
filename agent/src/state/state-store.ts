/**
 * The agent's state directory (mode 0700): identity (TLS key + certificate, bundle key), pins (controller CA,
 * bundle-signing key), the last installed version per slot and the results of finished jobs (so a redelivered job
 * is answered from here and never applied twice). Every file is written atomically; keys with mode 0600.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { CertFleetError, atomicWriteFileSync } from '@certfleet/shared';

export const STATE_FILES = {
  state: 'state.json',
  tlsKey: 'agent.key',
  tlsCert: 'agent.crt',
  bundleKey: 'bundle.key',
  controllerCa: 'controller-ca.pem',
  signingKey: 'bundle-signing.pub',
} as const;

const storedResultSchema = z.object({
  status: z.enum(['succeeded', 'failed', 'rejected']),
  reason: z.string(),
  message: z.string(),
  servedSha256: z.string(),
  stderrTail: z.string(),
  idempotent: z.boolean(),
  rolledBack: z.boolean(),
  finishedAt: z.string(),
});
export type StoredResult = z.infer<typeof storedResultSchema>;

export const agentStateSchema = z
  .object({
    v: z.literal(1),
    agentId: z.string().min(1),
    controller: z.string().min(1),
    enrolledAt: z.string(),
    lastVersions: z.record(z.string(), z.object({ version: z.number().int(), bundleId: z.string() })).default({}),
    results: z.record(z.string(), storedResultSchema).default({}),
  })
  .strict();
export type AgentState = z.infer<typeof agentStateSchema>;

/** At most this many job results are kept (oldest dropped): enough to answer any redelivery. */
const MAX_RESULTS = 1000;

export interface Identity {
  keyPem: string;
  certPem: string;
  bundleIdentity: string;
  controllerCaPem: string;
  signingPublicKeyPem: string;
}

export class StateStore {
  constructor(readonly dir: string) {}

  file(name: keyof typeof STATE_FILES): string {
    return path.join(this.dir, STATE_FILES[name]);
  }

  ensureDir(): void {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    fs.chmodSync(this.dir, 0o700);
  }

  isEnrolled(): boolean {
    return fs.existsSync(this.file('state'));
  }

  read(): AgentState {
    let raw: unknown;
    try {
      raw = JSON.parse(fs.readFileSync(this.file('state'), 'utf8'));
    } catch (err) {
      throw new CertFleetError(
        'CF_VALIDATION',
        `agent: state ${this.file('state')} is missing or unreadable (${(err as Error).message}); enroll first`
      );
    }
    const parsed = agentStateSchema.safeParse(raw);
    if (!parsed.success)
      throw new CertFleetError('CF_VALIDATION', `agent: state file is invalid: ${parsed.error.message}`);
    return parsed.data;
  }

  write(state: AgentState): void {
    const keys = Object.keys(state.results);
    if (keys.length > MAX_RESULTS) {
      const sorted = keys.sort((a, b) =>
        (state.results[a]?.finishedAt ?? '').localeCompare(state.results[b]?.finishedAt ?? '')
      );
      for (const k of sorted.slice(0, keys.length - MAX_RESULTS)) delete state.results[k];
    }
    atomicWriteFileSync(this.file('state'), JSON.stringify(state, null, 2), 0o600);
  }

  readIdentity(): Identity {
    const r = (n: keyof typeof STATE_FILES) => fs.readFileSync(this.file(n), 'utf8');
    return {
      keyPem: r('tlsKey'),
      certPem: r('tlsCert'),
      bundleIdentity: r('bundleKey').trim(),
      controllerCaPem: r('controllerCa'),
      signingPublicKeyPem: r('signingKey'),
    };
  }

  writeIdentity(id: Partial<Identity>): void {
    this.ensureDir();
    if (id.keyPem !== undefined) atomicWriteFileSync(this.file('tlsKey'), id.keyPem, 0o600);
    if (id.certPem !== undefined) atomicWriteFileSync(this.file('tlsCert'), id.certPem, 0o644);
    if (id.bundleIdentity !== undefined) atomicWriteFileSync(this.file('bundleKey'), `${id.bundleIdentity}\n`, 0o600);
    if (id.controllerCaPem !== undefined) atomicWriteFileSync(this.file('controllerCa'), id.controllerCaPem, 0o644);
    if (id.signingPublicKeyPem !== undefined) {
      atomicWriteFileSync(this.file('signingKey'), id.signingPublicKeyPem, 0o644);
    }
  }

  /** Removes the identity and pins (after a ban): the agent must enroll again with a new token. */
  wipeIdentity(): void {
    for (const name of Object.keys(STATE_FILES) as (keyof typeof STATE_FILES)[]) {
      fs.rmSync(this.file(name), { force: true });
    }
  }
}
