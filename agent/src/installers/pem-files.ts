/**
 * The PEM set every installer writes (pure): `cert.pem` (leaf), `chain.pem` (intermediates, may be empty),
 * `fullchain.pem` (leaf + chain) and `key.pem` (PKCS#8, 0600). Bundles normally carry all four; a bundle with only
 * `cert.pem` + `key.pem` gets an empty `chain.pem` and a `fullchain.pem` equal to the leaf. Other bundle files
 * (an offline bundle's `receipt.key`) are for the agent itself and are never placed into a server directory.
 */
import { CertFleetError, type OpenedBundle } from '@certfleet/shared';
import type { PlannedFile } from './installer';

export const CERT_FILE = 'cert.pem';
export const CHAIN_FILE = 'chain.pem';
export const FULLCHAIN_FILE = 'fullchain.pem';
export const KEY_FILE = 'key.pem';

export interface PemSet {
  cert: Buffer;
  chain: Buffer;
  fullchain: Buffer;
  key: Buffer;
  /** The four files, with the manifest's modes (key: never wider than 0600). */
  files: PlannedFile[];
}

function withNewline(b: Buffer): Buffer {
  return b.length === 0 || b[b.length - 1] === 0x0a ? b : Buffer.concat([b, Buffer.from('\n')]);
}

/**
 * Extracts the standard PEM set from a bundle.
 * @throws CertFleetError `CF_VALIDATION` (message `installer(<type>): …`) when `cert.pem` or `key.pem` is missing
 */
export function pemSetOf(opened: OpenedBundle, installer: string): PemSet {
  const modeOf = (name: string, fallback: number): number =>
    opened.manifest.files.find((f) => f.path === name)?.mode ?? fallback;
  const cert = opened.files.get(CERT_FILE);
  const key = opened.files.get(KEY_FILE);
  if (!cert || !key) {
    throw new CertFleetError('CF_VALIDATION', `installer(${installer}): the bundle needs ${CERT_FILE} and ${KEY_FILE}`);
  }
  const chain = opened.files.get(CHAIN_FILE) ?? Buffer.alloc(0);
  const fullchain = opened.files.get(FULLCHAIN_FILE) ?? Buffer.concat([withNewline(cert), chain]);
  return {
    cert,
    chain,
    fullchain,
    key,
    files: [
      { name: CERT_FILE, contents: cert, mode: modeOf(CERT_FILE, 0o644) },
      { name: CHAIN_FILE, contents: chain, mode: modeOf(CHAIN_FILE, 0o644) },
      { name: FULLCHAIN_FILE, contents: fullchain, mode: modeOf(FULLCHAIN_FILE, 0o644) },
      { name: KEY_FILE, contents: key, mode: modeOf(KEY_FILE, 0o600) & 0o600 },
    ],
  };
}
