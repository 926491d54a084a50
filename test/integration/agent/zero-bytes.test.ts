/**
 * The agent's install-job path refuses every damaged, misaddressed or stale bundle before it touches the disk
 * (SPEC D2, G2): sampled single-bit flips and truncations of a real sealed bundle, a bundle for another agent, an
 * older version — each leaves the install directory byte-for-byte unchanged (zero bytes written), while the same
 * version twice is acknowledged without reinstalling. The exhaustive flip sweep at the opener level is in
 * test/unit/shared/bundle/bit-flips.test.ts.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { generateBundleKeyPair, sealBundle, type InstallTarget } from '@certfleet/shared';
import { runInstallJob } from '../../../agent/src/jobs/install-job';
import type { AgentState, Identity } from '../../../agent/src/state/state-store';
import { agentConfig, issueLeaf, type LeafMaterial } from '../../_helpers/install-bundles';
import { tempRoot } from './_servers';

/** Every file under `dir` (hidden ones too) with its mode and SHA-256: equal snapshots mean nothing was written. */
function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of fs.readdirSync(d).sort()) {
      const p = path.join(d, name);
      const st = fs.lstatSync(p);
      if (st.isDirectory()) walk(p);
      const body = st.isFile() ? crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex') : '';
      out.push(`${path.relative(dir, p)} ${st.mode.toString(8)} ${st.isSymbolicLink() ? fs.readlinkSync(p) : body}`);
    }
  };
  walk(dir);
  return out;
}

const signing = crypto.generateKeyPairSync('ed25519');
const signingPrivate = signing.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const signingPublic = signing.publicKey.export({ type: 'spki', format: 'pem' }).toString();

async function seal(
  leaf: LeafMaterial,
  recipient: string,
  o: { agentId: string; version: number; bundleId?: string; target: InstallTarget }
): Promise<Buffer> {
  const files = new Map<string, Buffer>([
    ['cert.pem', leaf.certPem],
    ['key.pem', leaf.keyPem],
  ]);
  const now = Date.now();
  return sealBundle({
    manifest: {
      bundleId: o.bundleId ?? crypto.randomUUID(),
      agentId: o.agentId,
      slot: 'web',
      version: o.version,
      issuedAt: new Date(now).toISOString(),
      notBefore: new Date(now - 60_000).toISOString(),
      notAfter: new Date(now + 3_600_000).toISOString(),
      files: [...files.keys()].map((p) => ({ path: p })),
      hooks: [],
      target: o.target,
    },
    files,
    signingKey: signingPrivate,
    recipient: { kind: 'x25519', publicKey: recipient },
  });
}

test('D2 G2 damaged, misaddressed and stale bundles write zero bytes; the same version twice reinstalls nothing', async (t) => {
  const dir = tempRoot('certfleet-zero-bytes-');
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const root = path.join(dir, 'certs');
  fs.mkdirSync(root);
  const config = agentConfig({ stateDir: path.join(dir, 'state'), allowedRoots: [root] });
  const target: InstallTarget = { installer: 'file', directory: path.join(root, 'app') };
  const keys = await generateBundleKeyPair();
  const other = await generateBundleKeyPair();
  const identity: Identity = {
    keyPem: '',
    certPem: '',
    bundleIdentity: keys.identity,
    controllerCaPem: '',
    signingPublicKeyPem: signingPublic,
  };
  const state: AgentState = {
    v: 1,
    agentId: 'agent-a',
    controller: 'x:1',
    enrolledAt: '',
    lastVersions: {},
    results: {},
  };
  const job = (bytes: Uint8Array) =>
    runInstallJob(bytes, { agentId: 'agent-a', identity, state, config, now: new Date() });

  // version 2 installs
  const leaf = await issueLeaf('app.example');
  const v2Id = crypto.randomUUID();
  const v2 = await seal(leaf, keys.recipient, { agentId: 'agent-a', version: 2, bundleId: v2Id, target });
  const first = await job(v2);
  t.is(first.status, 'succeeded', first.message);
  const installed = snapshot(root);

  // sampled bit flips over the whole file (header, nonce, payload) and truncations: all rejected, nothing written
  const flips: number[] = [];
  for (let bit = 0; bit < v2.length * 8; bit += bit < 2048 ? 1 : 97) flips.push(bit);
  const reasons = new Set<string>();
  for (const bit of flips) {
    const bad = Buffer.from(v2);
    bad[bit >> 3]! ^= 1 << (bit & 7);
    const r = await job(bad);
    if (r.status !== 'rejected') t.fail(`flip of bit ${bit} was not rejected: ${r.status} ${r.reason}`);
    reasons.add(r.reason);
  }
  for (let len = 0; len < v2.length; len += len < 300 ? 1 : 211) {
    const r = await job(v2.subarray(0, len));
    if (r.status !== 'rejected') t.fail(`truncation to ${len} bytes was not rejected`);
  }
  t.log(`${flips.length} flips, reasons: ${[...reasons].join(', ')}`);
  t.true(flips.length >= 2500);
  t.deepEqual(snapshot(root), installed, 'no byte written by any rejected bundle');

  // a bundle for agent B (sealed to B's key, or to A's key but naming B) is rejected
  const forB = await job(await seal(leaf, other.recipient, { agentId: 'agent-b', version: 3, target }));
  t.deepEqual([forB.status, forB.reason], ['rejected', 'BundleDecrypt']);
  const namingB = await job(await seal(leaf, keys.recipient, { agentId: 'agent-b', version: 3, target }));
  t.deepEqual([namingB.status, namingB.reason], ['rejected', 'BundleRecipient']);
  // v-1 after v is refused as a rollback
  const older = await job(
    await seal(await issueLeaf('app.example'), keys.recipient, { agentId: 'agent-a', version: 1, target })
  );
  t.deepEqual([older.status, older.reason], ['rejected', 'BundleRollback']);
  t.deepEqual(snapshot(root), installed);
  // the same version and bundle again: acknowledged, nothing reinstalled
  const again = await job(v2);
  t.deepEqual([again.status, again.reason, again.idempotent], ['succeeded', 'AlreadyInstalled', true]);
  t.deepEqual(snapshot(root), installed);
});
