import { createPrivateKey, X509Certificate } from 'node:crypto';
import { CertFleetError, type ErrorCode } from '../errors';
import { loadAge, readAgeHeader } from './age';
import {
  MANIFEST_ENTRY,
  MAX_BUNDLE_FILES,
  SIGNATURE_ENTRY,
  isCertPath,
  isKeyPath,
  manifestSchema,
  type BundleManifest,
} from './manifest';
import { RECEIPT_KEY_FILE } from './receipt';
import { leafSha256, sha256Hex } from './seal';
import { verifyManifestSignature } from './signing';
import { TarFormatError, readTar } from './tar';

export const DEFAULT_MAX_BUNDLE_BYTES = 20 * 1024 * 1024;

/**
 * Default and highest accepted scrypt log2(N) for passphrase bundles. age-encryption itself refuses more than 20,
 * so a larger `maxScryptWorkFactor` is capped here (N = 2^20 costs ≈ 1 GiB·s of memory-hard work).
 */
export const MAX_SCRYPT_WORK_FACTOR = 20;

export interface LastSlotVersion {
  version: number;
  bundleId: string;
}

export type OpenBundleOptions = (
  { identity: string; passphrase?: never } | { passphrase: string; identity?: never }
) & {
  /** Ed25519 SPKI PEM pinned at enrollment (or printed by the offline installer). */
  trustedSigningKey: string;
  /** This agent's id, or 'offline' for passphrase bundles. */
  expectAgentId: string;
  now: Date;
  /** The last installed version for the bundle's slot: a value, or a lookup by slot name. */
  lastVersionForSlot?: LastSlotVersion | ((slot: string) => LastSlotVersion | undefined);
  maxBytes?: number;
  /**
   * Highest scrypt log2(N) accepted for passphrase bundles. Checked on the header BEFORE the KDF runs, so a
   * bundle that asks for more is refused at once with `CF_BUNDLE_WORK_FACTOR_TOO_HIGH` (no CPU/memory spent).
   * Values above {@link MAX_SCRYPT_WORK_FACTOR} are capped to it.
   * @default 20
   */
  maxScryptWorkFactor?: number;
};

export interface OpenedBundle {
  manifest: BundleManifest;
  files: Map<string, Buffer>;
  /** Same slot, version and bundle id as the last install: verified, but nothing to install (ACK only). */
  idempotent: boolean;
}

function fail(code: ErrorCode, message: string, details?: Record<string, unknown>): never {
  throw new CertFleetError(code, message, details ? { details } : {});
}

/**
 * Refuses a scrypt stanza (`-> scrypt <salt> <logN>`) whose work factor is above the limit, before any KDF runs.
 * The decimal form is the one age accepts (no sign, no leading zero); anything else cannot decrypt anyway.
 */
function checkScryptWorkFactor(args: readonly string[], max: number | undefined): void {
  const limit = Math.min(max ?? MAX_SCRYPT_WORK_FACTOR, MAX_SCRYPT_WORK_FACTOR);
  const logN = args[1] ?? '';
  if (args.length !== 2 || !/^[1-9][0-9]{0,2}$/.test(logN)) fail('CF_BUNDLE_DECRYPT', 'invalid scrypt stanza');
  if (Number(logN) > limit) {
    fail('CF_BUNDLE_WORK_FACTOR_TOO_HIGH', `scrypt work factor 2^${logN} is above the accepted 2^${limit}`, {
      workFactor: Number(logN),
      maxWorkFactor: limit,
    });
  }
}

/**
 * Decrypts and verifies a sealed bundle in memory. Checks, in this order: size cap, decrypt (exactly one
 * recipient of the expected kind; for scrypt a work factor within `maxScryptWorkFactor`, checked before the KDF),
 * tar structure, signature, recipient/agent id, time window, version, file hashes (and leaf hash), key ↔
 * certificate. Never touches the disk.
 */
export async function openBundle(bytes: Uint8Array, opts: OpenBundleOptions): Promise<OpenedBundle> {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BUNDLE_BYTES;
  // 1. size cap
  if (bytes.length > maxBytes) fail('CF_BUNDLE_TOO_LARGE', `bundle is larger than ${maxBytes} bytes`);

  // 2. decrypt
  const header = readAgeHeader(bytes);
  const wantType = opts.identity !== undefined ? 'X25519' : 'scrypt';
  if (!header) fail('CF_BUNDLE_DECRYPT', 'not an age v1 file');
  if (header.stanzaTypes.length !== 1 || header.stanzaTypes[0] !== wantType) {
    fail('CF_BUNDLE_DECRYPT', `bundle must have exactly one ${wantType} recipient`);
  }
  if (wantType === 'scrypt') checkScryptWorkFactor(header.stanzas[0]?.args ?? [], opts.maxScryptWorkFactor);
  let payload: Buffer;
  try {
    const age = await loadAge();
    const d = new age.Decrypter();
    if (opts.identity !== undefined) d.addIdentity(opts.identity);
    else d.addPassphrase(opts.passphrase);
    payload = Buffer.from(await d.decrypt(bytes));
  } catch {
    fail('CF_BUNDLE_DECRYPT', 'bundle could not be decrypted (tampered, truncated or wrong key)');
  }

  // 3. tar structure
  let entries;
  try {
    entries = readTar(payload, { maxEntries: MAX_BUNDLE_FILES + 2, maxTotalBytes: maxBytes });
  } catch (err) {
    if (err instanceof TarFormatError) fail('CF_BUNDLE_MALFORMED', `bad bundle archive: ${err.message}`);
    throw err;
  }
  const byPath = new Map(entries.map((e) => [e.path, e.data]));
  const manifestBytes = byPath.get(MANIFEST_ENTRY);
  const signature = byPath.get(SIGNATURE_ENTRY);
  if (!manifestBytes || !signature) fail('CF_BUNDLE_MALFORMED', 'manifest.json or manifest.sig missing');
  if (entries[0]?.path !== MANIFEST_ENTRY || entries[1]?.path !== SIGNATURE_ENTRY) {
    fail('CF_BUNDLE_MALFORMED', 'manifest.json and manifest.sig must be the first entries');
  }

  // 4. signature over the exact manifest bytes
  if (!verifyManifestSignature(manifestBytes, signature, opts.trustedSigningKey)) {
    fail('CF_BUNDLE_SIGNATURE', 'manifest signature does not verify with the pinned bundle-signing key');
  }
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(manifestBytes));
  } catch {
    fail('CF_BUNDLE_MALFORMED', 'manifest.json is not JSON');
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) fail('CF_BUNDLE_MALFORMED', `invalid manifest: ${parsed.error.issues[0]?.message ?? ''}`);
  const manifest = parsed.data;
  const listed = new Set(manifest.files.map((f) => f.path));
  const extra = entries.slice(2).filter((e) => !listed.has(e.path));
  if (extra.length > 0 || entries.length !== manifest.files.length + 2) {
    fail('CF_BUNDLE_MALFORMED', 'archive entries do not match the manifest', {
      unexpected: extra.map((e) => e.path).slice(0, 5),
    });
  }

  // 5. recipient / agent id
  const offlineKind = opts.passphrase !== undefined;
  if (manifest.agentId !== opts.expectAgentId || (manifest.agentId === 'offline') !== offlineKind) {
    fail('CF_BUNDLE_RECIPIENT', 'bundle is addressed to another agent', { agentId: manifest.agentId });
  }

  // 6. time window
  const now = opts.now.getTime();
  if (now < Date.parse(manifest.notBefore) || now >= Date.parse(manifest.notAfter)) {
    fail('CF_BUNDLE_EXPIRED', 'bundle is outside its validity window', {
      notBefore: manifest.notBefore,
      notAfter: manifest.notAfter,
    });
  }

  // 7. version
  const last =
    typeof opts.lastVersionForSlot === 'function' ? opts.lastVersionForSlot(manifest.slot) : opts.lastVersionForSlot;
  let idempotent = false;
  if (last) {
    if (manifest.version < last.version || (manifest.version === last.version && manifest.bundleId !== last.bundleId)) {
      fail('CF_BUNDLE_ROLLBACK', 'bundle version is not newer than the installed one', {
        slot: manifest.slot,
        version: manifest.version,
        lastVersion: last.version,
      });
    }
    idempotent = manifest.version === last.version;
  }

  // 8. file hashes
  const files = new Map<string, Buffer>();
  for (const f of manifest.files) {
    const data = byPath.get(f.path) ?? Buffer.alloc(0);
    if (sha256Hex(data) !== f.sha256) fail('CF_BUNDLE_HASH', `${f.path} does not match its SHA-256`, { path: f.path });
    files.set(f.path, data);
  }
  const certFile = manifest.files.find((f) => isCertPath(f.path));
  if (!certFile) fail('CF_BUNDLE_MALFORMED', 'bundle has no certificate file');
  const certPem = files.get(certFile.path) ?? Buffer.alloc(0);
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch {
    fail('CF_BUNDLE_MALFORMED', `${certFile.path} is not a certificate`);
  }
  if (leafSha256(certPem) !== manifest.leafSha256) fail('CF_BUNDLE_HASH', 'leaf certificate does not match leafSha256');

  // 9. key matches certificate
  for (const f of manifest.files.filter((x) => isKeyPath(x.path))) {
    if (f.path === RECEIPT_KEY_FILE) {
      // The offline receipt key signs the install receipt; it must be an Ed25519 key, not the certificate's.
      let kind: string | undefined;
      try {
        kind = createPrivateKey(files.get(f.path) ?? Buffer.alloc(0)).asymmetricKeyType;
      } catch {
        kind = undefined;
      }
      if (kind !== 'ed25519') fail('CF_BUNDLE_MALFORMED', `${f.path} is not an Ed25519 private key`);
      continue;
    }
    let ok = false;
    try {
      ok = cert.checkPrivateKey(createPrivateKey(files.get(f.path) ?? Buffer.alloc(0)));
    } catch {
      ok = false;
    }
    if (!ok) fail('CF_BUNDLE_KEY_MISMATCH', `${f.path} does not belong to ${certFile.path}`, { path: f.path });
  }
  return { manifest, files, idempotent };
}
