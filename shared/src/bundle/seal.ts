import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { CertFleetError } from '../errors';
import { loadAge } from './age';
import {
  MANIFEST_ENTRY,
  SIGNATURE_ENTRY,
  isCertPath,
  isKeyPath,
  manifestSchema,
  type BundleManifest,
  type ManifestInput,
} from './manifest';
import { signManifest } from './signing';
import { writeTar } from './tar';

export type BundleRecipient = { kind: 'x25519'; publicKey: string } | { kind: 'passphrase'; passphrase: string };

export interface SealBundleOptions {
  manifest: ManifestInput;
  /** Contents by manifest path; must hold exactly the manifest's files. */
  files: ReadonlyMap<string, Buffer>;
  /** Ed25519 PKCS#8 PEM of the controller's bundle-signing key. */
  signingKey: string;
  recipient: BundleRecipient;
  /** scrypt log2(N) for passphrase bundles; default 18 (age's default). Tests may lower it. */
  scryptWorkFactor?: number;
}

export interface SealedBundle {
  bytes: Buffer;
  manifest: BundleManifest;
}

export const sha256Hex = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

/** SHA-256 (hex) of the DER of the first certificate in a PEM file. */
export function leafSha256(certPem: Buffer): string {
  return sha256Hex(new X509Certificate(certPem).raw);
}

/** Builds, signs and encrypts a bundle; returns the age v1 (binary) file. */
export async function sealBundle(opts: SealBundleOptions): Promise<Buffer> {
  return (await sealBundleWithManifest(opts)).bytes;
}

/** As {@link sealBundle}, also returning the final (hashed, validated) manifest. */
export async function sealBundleWithManifest(opts: SealBundleOptions): Promise<SealedBundle> {
  const { manifest: input, files } = opts;
  const listed = new Set(input.files.map((f) => f.path));
  if (listed.size !== files.size || [...files.keys()].some((p) => !listed.has(p))) {
    throw new CertFleetError('CF_VALIDATION', 'bundle files must match the manifest file list exactly');
  }
  const certFile = input.files.find((f) => isCertPath(f.path));
  if (!certFile) throw new CertFleetError('CF_VALIDATION', 'a bundle needs a certificate file (cert.pem, *.crt …)');
  let leaf: string;
  try {
    leaf = leafSha256(files.get(certFile.path) ?? Buffer.alloc(0));
  } catch (cause) {
    throw new CertFleetError('CF_VALIDATION', `${certFile.path} is not a PEM certificate`, { cause });
  }
  const candidate = {
    v: 1,
    ...input,
    files: input.files.map((f) => ({
      path: f.path,
      sha256: sha256Hex(files.get(f.path) ?? Buffer.alloc(0)),
      mode: f.mode ?? (isKeyPath(f.path) ? 0o600 : 0o644),
      ...(f.owner === undefined ? {} : { owner: f.owner }),
    })),
    leafSha256: leaf,
  };
  const parsed = manifestSchema.safeParse(candidate);
  if (!parsed.success) {
    throw new CertFleetError('CF_VALIDATION', `invalid bundle manifest: ${parsed.error.message}`, {
      details: { issues: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) },
    });
  }
  const manifest = parsed.data;
  const manifestBytes = Buffer.from(JSON.stringify(manifest), 'utf8');
  const signature = signManifest(manifestBytes, opts.signingKey);
  const tar = writeTar([
    { path: MANIFEST_ENTRY, data: manifestBytes },
    { path: SIGNATURE_ENTRY, data: signature },
    ...manifest.files.map((f) => ({ path: f.path, data: files.get(f.path) ?? Buffer.alloc(0) })),
  ]);
  const bytes = await encryptPayload(tar, opts.recipient, opts.scryptWorkFactor);
  return { bytes, manifest };
}

/** Encrypts to exactly one recipient (X25519 or scrypt). Exported for tests that craft payloads. */
export async function encryptPayload(
  payload: Uint8Array,
  recipient: BundleRecipient,
  scryptWorkFactor?: number
): Promise<Buffer> {
  const age = await loadAge();
  const e = new age.Encrypter();
  if (recipient.kind === 'x25519') {
    if (!/^age1[02-9ac-hj-np-z]{58}$/.test(recipient.publicKey)) {
      throw new CertFleetError('CF_VALIDATION', 'recipient must be an age X25519 public key (age1…)');
    }
    e.addRecipient(recipient.publicKey);
  } else {
    if (recipient.passphrase.length < 16) throw new CertFleetError('CF_VALIDATION', 'passphrase too short');
    e.setPassphrase(recipient.passphrase);
    if (scryptWorkFactor !== undefined) e.setScryptWorkFactor(scryptWorkFactor);
  }
  return Buffer.from(await e.encrypt(payload));
}

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/** 28 random base32 characters (140 bits) in groups of four: `abcd-efgh-…`. Shown once to the operator. */
export function generatePassphrase(): string {
  const chars = [...randomBytes(28)].map((b) => BASE32[b & 31]).join('');
  return chars.match(/.{4}/g)?.join('-') ?? chars;
}

/** A new age X25519 bundle key: `identity` (AGE-SECRET-KEY-1…, stays on the agent) and `recipient` (age1…). */
export async function generateBundleKeyPair(): Promise<{ identity: string; recipient: string }> {
  const age = await loadAge();
  const identity = await age.generateX25519Identity();
  return { identity, recipient: await age.identityToRecipient(identity) };
}
