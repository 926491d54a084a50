import { generateKeyPairSync, randomUUID } from 'node:crypto';
import {
  encryptPayload,
  generateBundleKeyPair,
  signManifest,
  writeTar,
  type ManifestInput,
  type TarEntry,
} from '@certfleet/shared';
import { createRootCa, issueServerCertificate } from '../../../../controller/src/issuers/internal-ca';

export const NOW = new Date('2026-11-25T12:00:00Z');
/** Low scrypt cost so passphrase tests stay fast; production uses age's default (18). */
export const TEST_SCRYPT = 10;

export interface Fixture {
  signingKey: string;
  trustedSigningKey: string;
  otherSigningKey: string;
  agent: { identity: string; recipient: string };
  otherAgent: { identity: string; recipient: string };
  certPem: Buffer;
  keyPem: Buffer;
  otherKeyPem: Buffer;
}

let cached: Promise<Fixture> | undefined;

export function fixture(): Promise<Fixture> {
  cached ??= (async () => {
    const signing = generateKeyPairSync('ed25519');
    const other = generateKeyPairSync('ed25519');
    const root = await createRootCa({ now: NOW, keySpec: 'EC-P256' });
    const leafKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const wrongKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const leaf = await issueServerCertificate({
      ca: root,
      subjectPublicKeyPem: leafKey.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      subject: { commonName: 'shop.example.com' },
      sans: [{ type: 'dns', value: 'shop.example.com' }],
      now: NOW,
      validityDays: 30,
    });
    return {
      signingKey: signing.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      trustedSigningKey: signing.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      otherSigningKey: other.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      agent: await generateBundleKeyPair(),
      otherAgent: await generateBundleKeyPair(),
      certPem: Buffer.from(leaf.certificatePem),
      keyPem: Buffer.from(leafKey.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()),
      otherKeyPem: Buffer.from(wrongKey.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()),
    };
  })();
  return cached;
}

export function manifestInput(overrides: Partial<ManifestInput> = {}): ManifestInput {
  return {
    bundleId: randomUUID(),
    agentId: 'agent-1',
    slot: 'shop.example.com',
    version: 5,
    issuedAt: '2026-11-25T11:59:00Z',
    notBefore: '2026-11-25T11:00:00Z',
    notAfter: '2026-11-26T12:00:00Z',
    files: [{ path: 'cert.pem' }, { path: 'key.pem' }],
    hooks: ['reload-nginx'],
    ...overrides,
  };
}

export function files(f: Fixture, key: Buffer = f.keyPem): Map<string, Buffer> {
  return new Map([
    ['cert.pem', f.certPem],
    ['key.pem', key],
  ]);
}

/** Builds a bundle by hand (bypassing sealBundle's validation) to test what the opener refuses. */
export async function craft(
  f: Fixture,
  manifest: unknown,
  extraEntries: TarEntry[] = [],
  opts: { recipient?: string; fileEntries?: TarEntry[] } = {}
): Promise<Buffer> {
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  const tar = writeTar([
    { path: 'manifest.json', data: manifestBytes },
    { path: 'manifest.sig', data: signManifest(manifestBytes, f.signingKey) },
    ...(opts.fileEntries ?? [
      { path: 'cert.pem', data: f.certPem },
      { path: 'key.pem', data: f.keyPem },
    ]),
    ...extraEntries,
  ]);
  return encryptPayload(tar, { kind: 'x25519', publicKey: opts.recipient ?? f.agent.recipient });
}
