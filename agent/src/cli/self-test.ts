/**
 * `certfleet-agent self-test` (SPEC G5): proves, on the host, that the libraries the agent bundles load and work
 * inside the single executable — in particular the ESM-only age-encryption (reached through a dynamic `import()`),
 * @peculiar/x509 with reflect-metadata, and the bundle sealer/opener of @certfleet/shared.
 *
 * Everything happens in memory: a fresh age X25519 bundle key pair, an Ed25519 manifest-signing key, a throw-away
 * self-signed EC P-256 certificate; a tiny bundle is sealed to the key pair and opened again with every check of
 * {@link openBundle}. Nothing is read from or written to disk and nothing leaves the process except one JSON line
 * on stdout: `{"ok":true,...}` (exit code 0) or `{"ok":false,"error":"..."}` (exit code 1).
 */
import 'reflect-metadata';
import { generateKeyPairSync, KeyObject, randomUUID, webcrypto } from 'node:crypto';
import { isSea } from 'node:sea';
import * as x509 from '@peculiar/x509';
import { Command } from 'commander';
import { generateBundleKeyPair, openBundle, sealBundle } from '@certfleet/shared';
import { AGENT_VERSION } from '../version';

/** The JSON line printed by a successful self-test. */
export interface SelfTestResult {
  ok: true;
  version: string;
  node: string;
  /** True when running as a Node single executable application (the shipped agent). */
  sea: boolean;
  /** The checks that passed, in order. */
  checks: string[];
  bundleBytes: number;
  ms: number;
}

const nodeCrypto = webcrypto as unknown as Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[1];
const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/** Runs the in-memory checks; throws on the first failure. */
export async function runSelfTest(now: Date = new Date()): Promise<SelfTestResult> {
  const started = performance.now();
  const checks: string[] = [];

  const agentKey = await generateBundleKeyPair();
  if (!agentKey.identity.startsWith('AGE-SECRET-KEY-1') || !agentKey.recipient.startsWith('age1')) {
    throw new Error('age key pair has an unexpected form');
  }
  checks.push('age-keypair');

  const signing = generateKeyPairSync('ed25519');
  const leafKeys = (await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const notBefore = new Date(Math.floor(now.getTime() / 1000) * 1000 - 60_000);
  const notAfter = new Date(notBefore.getTime() + 3_600_000);
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: '01',
      name: 'CN=certfleet-agent self-test',
      notBefore,
      notAfter,
      keys: leafKeys,
      signingAlgorithm: EC_P256,
    },
    nodeCrypto
  );
  const certPem = Buffer.from(`${cert.toString('pem')}\n`);
  const keyPem = Buffer.from(
    KeyObject.from(leafKeys.privateKey).export({ type: 'pkcs8', format: 'pem' }).toString(),
    'utf8'
  );
  checks.push('x509-self-signed');

  const files = new Map([
    ['cert.pem', certPem],
    ['key.pem', keyPem],
  ]);
  const bytes = await sealBundle({
    manifest: {
      bundleId: randomUUID(),
      agentId: 'self-test',
      slot: 'self-test',
      version: 1,
      issuedAt: notBefore.toISOString(),
      notBefore: notBefore.toISOString(),
      notAfter: notAfter.toISOString(),
      files: [{ path: 'cert.pem' }, { path: 'key.pem' }],
      hooks: [],
    },
    files,
    signingKey: signing.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    recipient: { kind: 'x25519', publicKey: agentKey.recipient },
  });
  checks.push('bundle-seal');

  const opened = await openBundle(bytes, {
    identity: agentKey.identity,
    trustedSigningKey: signing.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    expectAgentId: 'self-test',
    now,
  });
  for (const [path, data] of files) {
    if (!opened.files.get(path)?.equals(data)) throw new Error(`opened bundle differs in ${path}`);
  }
  checks.push('bundle-open');

  return {
    ok: true,
    version: AGENT_VERSION,
    node: process.version,
    sea: isSea(),
    checks,
    bundleBytes: bytes.length,
    ms: Math.round(performance.now() - started),
  };
}

/** The `self-test` command: prints one JSON line; exit code 1 when a check fails. */
export function selfTestCommand(): Command {
  return new Command('self-test')
    .description('check that the bundled libraries work: seal and open a throw-away age bundle in memory, print JSON')
    .action(async () => {
      try {
        process.stdout.write(`${JSON.stringify(await runSelfTest())}\n`);
      } catch (err) {
        process.stdout.write(`${JSON.stringify({ ok: false, error: (err as Error).message })}\n`);
        process.exitCode = 1;
      }
    });
}
