/**
 * The files every bundle carries for a certificate (one layout for online, offline and manual delivery):
 * `cert.pem` (leaf), `chain.pem` (intermediates, may be empty), `fullchain.pem` (leaf + intermediates) and
 * `key.pem` (PKCS#8, mode 0600). The key is plaintext only inside the encrypted bundle.
 */
import type { KeyObject } from 'node:crypto';
import type { Certificate } from '../../domain/certificate';

export function bundleFilesFor(cert: Pick<Certificate, 'pem' | 'chainPem'>, key: KeyObject): Map<string, Buffer> {
  const leaf = withNewline(cert.pem);
  const chain = cert.chainPem.map(withNewline).join('');
  return new Map<string, Buffer>([
    ['cert.pem', Buffer.from(leaf)],
    ['chain.pem', Buffer.from(chain)],
    ['fullchain.pem', Buffer.from(leaf + chain)],
    ['key.pem', Buffer.from(key.export({ type: 'pkcs8', format: 'pem' }).toString())],
  ]);
}

function withNewline(pem: string): string {
  return pem.endsWith('\n') ? pem : `${pem}\n`;
}
