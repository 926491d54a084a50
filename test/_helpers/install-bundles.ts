/**
 * Test material for the agent's installers (SPEC D2): one in-test root CA, fresh EC P-256 leaves for
 * `127.0.0.1` / `localhost`, and real sealed bundles opened with `openBundle` (so tests install exactly what the
 * agent would). Also (de)serialises an `OpenedBundle` for the kill -9 child process.
 */
import { X509Certificate, generateKeyPairSync, randomUUID } from 'node:crypto';
import {
  generateBundleKeyPair,
  openBundle,
  sealBundle,
  type BundleHook,
  type InstallTarget,
  type OpenedBundle,
} from '@certfleet/shared';
import { parseAgentConfig, type AgentConfig, type AgentConfigInput } from '../../agent/src/config';
import { createRootCa, issueServerCertificate } from '../../controller/src/issuers/internal-ca';

export interface LeafMaterial {
  certPem: Buffer;
  keyPem: Buffer;
  chainPem: Buffer;
  fullchainPem: Buffer;
  /** SHA-256 hex of the leaf DER (what the probe compares). */
  leafSha256: string;
}

type Ca = Awaited<ReturnType<typeof createRootCa>>;
let ca: Promise<Ca> | undefined;
let signing: { privateKey: string; publicKey: string } | undefined;
let agentKeys: Promise<{ identity: string; recipient: string }> | undefined;

function testCa(): Promise<Ca> {
  ca ??= createRootCa({ now: new Date(), keySpec: 'EC-P256' });
  return ca;
}

/** A fresh key and leaf (CN and DNS SAN `cn`, IP SAN 127.0.0.1), chain = the test root. */
export async function issueLeaf(cn = 'localhost'): Promise<LeafMaterial> {
  const root = await testCa();
  const key = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const leaf = await issueServerCertificate({
    ca: root,
    subjectPublicKeyPem: key.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    subject: { commonName: cn },
    sans: [
      { type: 'dns', value: cn },
      { type: 'ip', value: '127.0.0.1' },
    ],
    now: new Date(),
    validityDays: 30,
  });
  const certPem = Buffer.from(leaf.certificatePem);
  const chainPem = Buffer.from(root.certificatePem);
  return {
    certPem,
    keyPem: Buffer.from(key.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()),
    chainPem,
    fullchainPem: Buffer.concat([certPem, chainPem]),
    leafSha256: new X509Certificate(certPem).fingerprint256.replace(/:/g, '').toLowerCase(),
  };
}

export interface BundleOptions {
  target: InstallTarget;
  hooks?: BundleHook[];
  version?: number;
  slot?: string;
  /** Only `cert.pem` + `key.pem` (no chain files). */
  minimal?: boolean;
}

/** Seals a bundle for a test agent and opens it again: the verified `OpenedBundle` an install receives. */
export async function openedBundle(material: LeafMaterial, opts: BundleOptions): Promise<OpenedBundle> {
  if (!signing) {
    const kp = generateKeyPairSync('ed25519');
    signing = {
      privateKey: kp.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      publicKey: kp.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    };
  }
  agentKeys ??= generateBundleKeyPair();
  const agent = await agentKeys;
  const files = new Map<string, Buffer>(
    opts.minimal
      ? [
          ['cert.pem', material.certPem],
          ['key.pem', material.keyPem],
        ]
      : [
          ['cert.pem', material.certPem],
          ['chain.pem', material.chainPem],
          ['fullchain.pem', material.fullchainPem],
          ['key.pem', material.keyPem],
        ]
  );
  const now = Date.now();
  const bytes = await sealBundle({
    manifest: {
      bundleId: randomUUID(),
      agentId: 'agent-test',
      slot: opts.slot ?? 'test-slot',
      version: opts.version ?? 1,
      issuedAt: new Date(now - 1000).toISOString(),
      notBefore: new Date(now - 60_000).toISOString(),
      notAfter: new Date(now + 3_600_000).toISOString(),
      files: [...files.keys()].map((path) => ({ path })),
      hooks: opts.hooks ?? [],
      target: opts.target,
    },
    files,
    signingKey: signing.privateKey,
    recipient: { kind: 'x25519', publicKey: agent.recipient },
  });
  return openBundle(bytes, {
    identity: agent.identity,
    trustedSigningKey: signing.publicKey,
    expectAgentId: 'agent-test',
    now: new Date(),
  });
}

/** A parsed agent config (schema defaults applied). */
export function agentConfig(input: AgentConfigInput): AgentConfig {
  return parseAgentConfig(input, 'test config');
}

/** JSON form of an `OpenedBundle` (for a child process). */
export function serializeOpened(opened: OpenedBundle): string {
  return JSON.stringify({
    manifest: opened.manifest,
    idempotent: opened.idempotent,
    files: [...opened.files].map(([p, b]) => [p, b.toString('base64')]),
  });
}
