/**
 * Offline install (SPEC D3): the same checks and installers as online delivery, for a passphrase-sealed bundle
 * carried to a host with no network path. Writes a receipt signed with the key the bundle carried, which the
 * controller accepts later as the deploy check.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import {
  CertFleetError,
  RECEIPT_KEY_FILE,
  atomicWriteFileSync,
  isCertFleetError,
  openBundle,
  signReceipt,
  type SignedReceipt,
} from '@certfleet/shared';
import type { AgentConfig } from '../config';
import { installOpenedBundle, type InstallOptions, type InstallOutcome } from '../installers/apply-plan';

const offlineStateSchema = z.object({
  v: z.literal(1),
  lastVersions: z.record(z.string(), z.object({ version: z.number().int(), bundleId: z.string() })),
});
type OfflineState = z.infer<typeof offlineStateSchema>;

export interface OfflineInstallOptions {
  bundleFile: string;
  passphrase: string;
  /** Ed25519 SPKI PEM that must have signed the manifest. */
  signingPublicKeyPem: string;
  /** When given, the signing key's SHA-256 must equal it (what the console shows). */
  expectSigningKeySha256?: string;
  config: AgentConfig;
  now?: Date;
  installOptions?: InstallOptions;
}

export interface OfflineInstallResult {
  outcome: InstallOutcome;
  receipt: SignedReceipt;
  signingKeySha256: string;
  bundleId: string;
}

export function publicKeySha256(publicKeyPem: string): string {
  let der: Buffer;
  try {
    der = crypto.createPublicKey(publicKeyPem).export({ type: 'spki', format: 'der' });
  } catch {
    throw new CertFleetError('CF_VALIDATION', 'agent: the bundle-signing key file is not a public key');
  }
  return crypto.createHash('sha256').update(der).digest('hex');
}

function stateFile(config: AgentConfig): string {
  return path.join(config.stateDir, 'offline-state.json');
}

function readState(config: AgentConfig): OfflineState {
  try {
    return offlineStateSchema.parse(JSON.parse(fs.readFileSync(stateFile(config), 'utf8')));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { v: 1, lastVersions: {} };
    throw new CertFleetError('CF_VALIDATION', `agent: ${stateFile(config)} is unreadable: ${(err as Error).message}`);
  }
}

/**
 * Opens (every check, in memory) and installs an offline bundle. A bundle that fails a check is refused with its
 * typed CF_BUNDLE_* error before anything is written; an install failure is rolled back and still produces a
 * signed receipt saying so.
 */
export async function installBundleFile(opts: OfflineInstallOptions): Promise<OfflineInstallResult> {
  const signingKeySha256 = publicKeySha256(opts.signingPublicKeyPem);
  if (opts.expectSigningKeySha256 && opts.expectSigningKeySha256.toLowerCase() !== signingKeySha256) {
    throw new CertFleetError(
      'CF_BUNDLE_SIGNATURE',
      `agent: the bundle-signing key has SHA-256 ${signingKeySha256}, not the expected ${opts.expectSigningKeySha256}`
    );
  }
  const bytes = fs.readFileSync(opts.bundleFile);
  const state = readState(opts.config);
  const opened = await openBundle(bytes, {
    passphrase: opts.passphrase,
    trustedSigningKey: opts.signingPublicKeyPem,
    expectAgentId: 'offline',
    now: opts.now ?? new Date(),
    lastVersionForSlot: (slot) => state.lastVersions[slot],
  });
  const receiptKey = opened.files.get(RECEIPT_KEY_FILE);
  if (!receiptKey) throw new CertFleetError('CF_BUNDLE_MALFORMED', 'agent: offline bundle carries no receipt key');
  let outcome: InstallOutcome;
  try {
    outcome = await installOpenedBundle(opened, opts.config, opts.installOptions);
  } catch (err) {
    outcome = {
      status: 'failed',
      verified: false,
      reason: 'InstallWriteFailed',
      message: isCertFleetError(err) ? err.message : String(err),
      rolledBack: false,
    };
  }
  if (outcome.status === 'installed') {
    fs.mkdirSync(opts.config.stateDir, { recursive: true, mode: 0o700 });
    state.lastVersions[opened.manifest.slot] = { version: opened.manifest.version, bundleId: opened.manifest.bundleId };
    atomicWriteFileSync(stateFile(opts.config), JSON.stringify(state, null, 2), 0o600);
  }
  const receipt = signReceipt(
    {
      v: 1,
      bundleId: opened.manifest.bundleId,
      slot: opened.manifest.slot,
      version: opened.manifest.version,
      status: outcome.status,
      reason: outcome.reason,
      message: outcome.message.slice(0, 8000),
      servedSha256: outcome.servedSha256 ?? '',
      rolledBack: outcome.rolledBack,
      installedAt: new Date().toISOString(),
      hostname: os.hostname().slice(0, 253) || 'unknown',
    },
    receiptKey
  );
  receiptKey.fill(0);
  return { outcome, receipt, signingKeySha256, bundleId: opened.manifest.bundleId };
}
