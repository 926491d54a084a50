/**
 * The grab's X25519 key exchange (shared/src/probe/x25519.ts): key shares agree, are fresh, and making them never
 * deadlocks — Node 20's `generateKeyPairSync('x25519')` followed by a JWK export of the public key does, under
 * garbage collection (the reason the probe makes its keys another way).
 */
import { execFile } from 'node:child_process';
import { createPublicKey, diffieHellman, generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import test from 'ava';
import { x25519KeyShare, x25519SharedSecret } from '../../../../shared/src/probe/x25519';

test('M1 X25519 key shares agree with each other and with Node’s own keys, and are fresh', (t) => {
  const a = x25519KeyShare();
  const b = x25519KeyShare();
  t.is(a.share.length, 32);
  t.false(a.share.equals(b.share));
  t.deepEqual(x25519SharedSecret(a.privateKey, b.share), x25519SharedSecret(b.privateKey, a.share));
  const node = generateKeyPairSync('x25519');
  const nodeShare = node.publicKey.export({ format: 'der', type: 'spki' }).subarray(12); // after the SPKI header
  t.deepEqual(
    x25519SharedSecret(a.privateKey, nodeShare),
    diffieHellman({ privateKey: node.privateKey, publicKey: createPublicKey(a.privateKey) })
  );
  t.throws(() => x25519SharedSecret(a.privateKey, Buffer.alloc(32)), undefined, 'a low-order point (all-zero secret)');
});

/** Runs the loop child (a tiny young generation: a scavenge every few hundred keys); `undefined` when it hung. */
function loop(mode: 'probe' | 'generate', count: number, seconds: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [
        '--max-semi-space-size=1',
        '--import',
        'tsx',
        join(__dirname, '_x25519-loop.ts'),
        mode,
        String(count),
        String(seconds),
      ],
      { timeout: (seconds + 5) * 1000, killSignal: 'SIGKILL' },
      (err, stdout) => resolve(err ? undefined : Number(stdout.trim()))
    );
  });
}

test('M1 making 100,000 key shares under constant garbage collection never deadlocks (Node 20’s generateKeyPairSync + JWK export does)', async (t) => {
  const made = await loop('probe', 100_000, 120);
  t.is(made, 100_000, 'the probe’s key shares: every one made, none stuck');
  // the hazard itself, for the log: with Node 20.20 it usually hangs within a few seconds
  const generated = await loop('generate', 100_000, 5);
  t.log(
    generated === undefined
      ? 'generateKeyPairSync + JWK export: the child hung (deadlock), as expected on Node 20'
      : `generateKeyPairSync + JWK export: ${generated} made without hanging this time`
  );
});
