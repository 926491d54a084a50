/**
 * An install job (SPEC D2, G2): open the sealed bundle with every check (size, decrypt, signature, recipient,
 * time, version, hashes, key↔certificate) before anything touches the disk, install it through the installer
 * plugins, remember the slot's version. A job id seen before is answered from the stored result (applied at most
 * once); an equal version with the same bundle id is an idempotent ACK.
 */
import { isCertFleetError, openBundle } from '@certfleet/shared';
import type { AgentConfig } from '../config';
import { installOpenedBundle, type InstallOptions } from '../installers/apply-plan';
import type { AgentState, Identity, StoredResult } from '../state/state-store';

export async function runInstallJob(
  sealed: Uint8Array,
  ctx: {
    agentId: string;
    identity: Identity;
    state: AgentState;
    config: AgentConfig;
    now: Date;
    installOptions?: InstallOptions;
  }
): Promise<StoredResult> {
  const finishedAt = () => new Date().toISOString();
  let opened;
  try {
    opened = await openBundle(sealed, {
      identity: ctx.identity.bundleIdentity,
      trustedSigningKey: ctx.identity.signingPublicKeyPem,
      expectAgentId: ctx.agentId,
      now: ctx.now,
      lastVersionForSlot: (slot) => ctx.state.lastVersions[slot],
    });
  } catch (err) {
    return {
      status: 'rejected',
      reason: isCertFleetError(err) ? reasonOfCode(err.code) : 'BundleRejected',
      message: (err as Error).message,
      servedSha256: '',
      stderrTail: '',
      idempotent: false,
      rolledBack: false,
      finishedAt: finishedAt(),
    };
  }
  const outcome = await installOpenedBundle(opened, ctx.config, ctx.installOptions);
  if (outcome.status === 'installed') {
    ctx.state.lastVersions[opened.manifest.slot] = {
      version: opened.manifest.version,
      bundleId: opened.manifest.bundleId,
    };
  }
  return {
    status: outcome.status === 'installed' ? 'succeeded' : 'failed',
    reason: outcome.reason,
    message: outcome.message,
    servedSha256: outcome.servedSha256 ?? '',
    stderrTail: outcome.stderrTail ?? '',
    idempotent: opened.idempotent,
    rolledBack: outcome.rolledBack,
    finishedAt: finishedAt(),
  };
}

/** `CF_BUNDLE_SIGNATURE` → `BundleSignature` (a CamelCase reason for the job result). */
export function reasonOfCode(code: string): string {
  return code
    .replace(/^CF_/, '')
    .toLowerCase()
    .split('_')
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join('');
}
