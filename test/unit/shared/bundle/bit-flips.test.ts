/**
 * Issue 4 proof "Bundles": a sealed bundle is all-or-nothing. Every single-bit flip and every truncation of a
 * valid bundle must be refused by openBundle with a typed CF_BUNDLE_* error: never opened, never a crash with
 * anything else. The variants (≈ 53,000 for the agent bundle, ≈ 11,000 for a passphrase bundle) are spread over child processes, one per core.
 */
import { fork } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { isCertFleetError, openBundle, sealBundle, type OpenBundleOptions } from '@certfleet/shared';
import { readAgeHeader } from '../../../../shared/src/bundle/age';
import { NOW, files, fixture, manifestInput } from './_fixtures';
import type { VariantKind, WorkerResult, WorkerTask } from './_bit-flip-worker';

const WORKER = path.join(__dirname, '_bit-flip-worker.ts');
// one process per core (at least 2); BITFLIP_WORKERS overrides it for measurements
const WORKERS = Number(process.env.BITFLIP_WORKERS) || Math.max(2, Math.min(os.availableParallelism(), 8));

function runWorker(task: WorkerTask): Promise<WorkerResult> {
  return new Promise((resolve, reject) => {
    const child = fork(WORKER, [], { execArgv: ['--import=tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let result: WorkerResult | undefined;
    child.once('message', (m: WorkerResult | { error: string }) => {
      if ('error' in m) reject(new Error(`bit-flip worker: ${m.error}`));
      else result = m;
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      if (result) resolve(result);
      else reject(new Error(`bit-flip worker exited with ${code} and no result`));
    });
    child.send(task);
  });
}

/** Opens every variant in `indexes` across {@link WORKERS} processes and merges the results. */
async function openAll(
  bundle: Buffer,
  opts: OpenBundleOptions,
  kind: VariantKind,
  indexes: number[]
): Promise<WorkerResult> {
  const shares: number[][] = Array.from({ length: WORKERS }, () => []);
  indexes.forEach((i, n) => shares[n % WORKERS]?.push(i)); // interleaved: header and payload variants cost differently
  const started = Date.now();
  const results = await Promise.all(
    shares.map((share) =>
      runWorker({
        bundle: bundle.toString('base64'),
        opts: { ...opts, now: opts.now.toISOString() },
        kind,
        indexes: share,
      })
    )
  );
  const merged: WorkerResult = { tested: 0, codes: {}, bad: [], badCount: 0, ms: Date.now() - started };
  for (const r of results) {
    merged.tested += r.tested;
    merged.badCount += r.badCount;
    merged.bad.push(...r.bad);
    for (const [code, n] of Object.entries(r.codes)) merged.codes[code] = (merged.codes[code] ?? 0) + n;
  }
  return merged;
}

function assertAllRefused(t: ExecutionContext, r: WorkerResult, expected: number, what: string): void {
  t.log(`${what}: ${r.tested} variants in ${r.ms} ms on ${WORKERS} processes → ${JSON.stringify(r.codes)}`);
  t.is(r.tested, expected, `${what}: every variant was tried`);
  t.deepEqual(r.bad.slice(0, 20), [], `${what}: opened or crashed (${r.badCount} in all)`);
  t.is(r.badCount, 0);
  const refused = Object.values(r.codes).reduce((a, b) => a + b, 0);
  t.is(refused, expected, `${what}: every variant was refused with a CF_BUNDLE_* code`);
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

/** Bytes up to and including the header's MAC line: `age-encryption.org/v1 … --- <mac>\n`. */
function headerLength(bundle: Buffer): number {
  const head = bundle.toString('latin1');
  const macLine = head.indexOf('\n---');
  return head.indexOf('\n', macLine + 1) + 1;
}

async function agentBundle(): Promise<{ bytes: Buffer; opts: OpenBundleOptions }> {
  const f = await fixture();
  const bytes = await sealBundle({
    manifest: manifestInput(),
    files: files(f),
    signingKey: f.signingKey,
    recipient: { kind: 'x25519', publicKey: f.agent.recipient },
  });
  const opts: OpenBundleOptions = {
    identity: f.agent.identity,
    trustedSigningKey: f.trustedSigningKey,
    expectAgentId: 'agent-1',
    now: NOW,
  };
  return { bytes, opts };
}

test.serial('D2/D3: every single-bit flip of a sealed agent (X25519) bundle is refused with CF_BUNDLE_*', async (t) => {
  const { bytes, opts } = await agentBundle();
  // the unmodified bundle opens: the refusals below are caused by the flip alone
  t.is((await openBundle(bytes, opts)).manifest.agentId, 'agent-1');
  t.true(bytes.length >= 4096, `bundle is ${bytes.length} bytes`);
  const bits = bytes.length * 8;
  t.true(bits >= 32_768);
  const r = await openAll(bytes, opts, 'flip', range(0, bits));
  assertAllRefused(t, r, bits, 'bit flips');
});

test.serial('D2/D3: truncations of a sealed agent (X25519) bundle are refused with CF_BUNDLE_*', async (t) => {
  const { bytes, opts } = await agentBundle();
  // every length through the header, the payload nonce and the first payload block, then every 3rd length (the
  // passphrase test below covers every length of a bundle of the same size); always the last 64 lengths
  const dense = headerLength(bytes) + 16 + 64;
  const lengths = range(0, bytes.length).filter((n) => n < dense || n % 3 === 0 || n >= bytes.length - 64);
  t.true(lengths.length >= 1000);
  const r = await openAll(bytes, opts, 'truncate', lengths);
  assertAllRefused(t, r, lengths.length, 'truncations');
  // a prefix of an age file is never "another format": every truncation is a failed decrypt
  t.is(r.codes.CF_BUNDLE_DECRYPT, lengths.length);
});

test.serial('D3: every header bit flip and truncation of a passphrase (scrypt) bundle is refused', async (t) => {
  const f = await fixture();
  const passphrase = 'correct-horse-battery-staple-42';
  const bytes = await sealBundle({
    manifest: manifestInput({ agentId: 'offline' }),
    files: files(f),
    signingKey: f.signingKey,
    recipient: { kind: 'passphrase', passphrase },
    // the KDF cost is not under test here (see the maxScryptWorkFactor test): 2^2 keeps ~11,000 opens fast
    scryptWorkFactor: 2,
  });
  const opts: OpenBundleOptions = {
    passphrase,
    trustedSigningKey: f.trustedSigningKey,
    expectAgentId: 'offline',
    now: NOW,
  };
  t.is((await openBundle(bytes, opts)).manifest.agentId, 'offline');
  // The payload is the same STREAM construction as the agent bundle's (covered bit by bit above); here every bit
  // of the scrypt header and the payload nonce, every 13th payload bit, and every truncation length.
  t.true(bytes.length >= 4096);
  const header = headerLength(bytes) + 16;
  const flips = [...range(0, header * 8), ...range(header * 8, bytes.length * 8).filter((i) => i % 13 === 0)];
  const r = await openAll(bytes, opts, 'flip', flips);
  assertAllRefused(t, r, flips.length, 'passphrase bundle bit flips');
  const cuts = await openAll(bytes, opts, 'truncate', range(0, bytes.length));
  assertAllRefused(t, cuts, bytes.length, 'passphrase bundle truncations');
});

/** Rewrites the `-> scrypt <salt> <logN>` line (the header MAC then no longer verifies: only the early check can answer). */
function withScryptWorkFactor(bundle: Buffer, logN: string): Buffer {
  const text = bundle.toString('latin1');
  return Buffer.from(text.replace(/^(-> scrypt \S+ )(\d+)$/m, `$1${logN}`), 'latin1');
}

async function rejects(t: ExecutionContext, p: Promise<unknown>, code: string): Promise<void> {
  const err = await t.throwsAsync(p);
  t.true(isCertFleetError(err), String(err));
  t.is((err as { code?: string }).code, code, (err as Error).message);
}

test.serial('D3: maxScryptWorkFactor is enforced from the header before the scrypt KDF runs', async (t) => {
  const f = await fixture();
  const passphrase = 'correct-horse-battery-staple-42';
  // a genuine bundle sealed with a costly work factor (2^16: 64 MiB of scrypt memory per attempt)
  const bytes = await sealBundle({
    manifest: manifestInput({ agentId: 'offline' }),
    files: files(f),
    signingKey: f.signingKey,
    recipient: { kind: 'passphrase', passphrase },
    scryptWorkFactor: 16,
  });
  t.deepEqual(readAgeHeader(bytes)?.stanzas[0]?.args[1], '16');
  const base: OpenBundleOptions = {
    passphrase,
    trustedSigningKey: f.trustedSigningKey,
    expectAgentId: 'offline',
    now: NOW,
  };

  let started = process.hrtime.bigint();
  t.is((await openBundle(bytes, { ...base, maxScryptWorkFactor: 16 })).manifest.agentId, 'offline');
  const kdfMs = Number(process.hrtime.bigint() - started) / 1e6;

  started = process.hrtime.bigint();
  const err = await t.throwsAsync(openBundle(bytes, { ...base, maxScryptWorkFactor: 12 }));
  const refusedMs = Number(process.hrtime.bigint() - started) / 1e6;
  t.true(isCertFleetError(err));
  t.is((err as { code?: string }).code, 'CF_BUNDLE_WORK_FACTOR_TOO_HIGH', (err as Error).message);
  t.deepEqual((err as { details?: unknown }).details, { workFactor: 16, maxWorkFactor: 12 });
  t.log(`open with the KDF: ${kdfMs.toFixed(1)} ms; refused before it: ${refusedMs.toFixed(2)} ms`);
  t.true(refusedMs * 10 < kdfMs, `refused in ${refusedMs} ms, the KDF takes ${kdfMs} ms`);
  // a wrong passphrase with a too-high factor is refused for the factor too, before trying the passphrase
  await rejects(
    t,
    openBundle(bytes, { ...base, passphrase: 'wrong-wrong-wrong-wrong', maxScryptWorkFactor: 15 }),
    'CF_BUNDLE_WORK_FACTOR_TOO_HIGH'
  );

  // default limit 20; a larger option is capped to 20 (age-encryption's own ceiling), so 2^21 and 2^64 are refused
  // at once with the typed code instead of starting a GiB-sized KDF or failing as a generic decrypt error
  for (const [logN, max] of [
    ['21', undefined],
    ['21', 30],
    ['64', undefined],
    ['999', 40],
  ] as const) {
    const claimed = withScryptWorkFactor(bytes, logN);
    t.is(readAgeHeader(claimed)?.stanzas[0]?.args[1], logN);
    started = process.hrtime.bigint();
    await rejects(
      t,
      openBundle(claimed, max === undefined ? base : { ...base, maxScryptWorkFactor: max }),
      'CF_BUNDLE_WORK_FACTOR_TOO_HIGH'
    );
    t.true(Number(process.hrtime.bigint() - started) / 1e6 < kdfMs);
  }
  // malformed factors (leading zero, sign, not a number, missing) never reach the KDF either
  for (const logN of ['016', '+16', '1e1', 'x']) {
    await rejects(t, openBundle(withScryptWorkFactor(bytes, logN), base), 'CF_BUNDLE_DECRYPT');
  }
  const noFactor = Buffer.from(bytes.toString('latin1').replace(/^(-> scrypt \S+) \d+$/m, '$1'), 'latin1');
  await rejects(t, openBundle(noFactor, base), 'CF_BUNDLE_DECRYPT');
});
