import tls from 'node:tls';
import { type X509Certificate } from 'node:crypto';
import { certificatesFromPems } from '@certfleet/shared';
import type { Em } from '../../storage/database';
import { CertificateAuthorityEntity } from '../../storage/entities';

let mozillaRoots: X509Certificate[] | undefined;

/** Node's bundled Mozilla root store: the anchors a publicly issued chain must reach (parsed once). */
export function publicTrustedRoots(): X509Certificate[] {
  mozillaRoots ??= certificatesFromPems(tls.rootCertificates);
  return mozillaRoots;
}

/**
 * Certificates that can complete a chain (SPEC A4 "chain completion from known intermediates"): every CA of the
 * built-in private CA and every chain certificate already in the repository, de-duplicated.
 */
export async function knownIntermediates(em: Em): Promise<X509Certificate[]> {
  const cas = await em.find(CertificateAuthorityEntity, {}, { fields: ['certificatePem', 'chainPem'] });
  const rows = await em
    .getConnection()
    .execute<Array<{ pem: string }>>(
      `select distinct jsonb_array_elements_text(chain_pem) as pem from certificates limit 5000`
    );
  const texts = [...cas.flatMap((c) => [c.certificatePem ?? '', ...c.chainPem]), ...rows.map((r) => r.pem)];
  const seen = new Set<string>();
  return certificatesFromPems(texts).filter((c) =>
    seen.has(c.fingerprint256) ? false : (seen.add(c.fingerprint256), true)
  );
}

/** Our own CA certificates: a chain ending at one of them is anchored too. */
export async function privateCaRoots(em: Em): Promise<X509Certificate[]> {
  const cas = await em.find(CertificateAuthorityEntity, { kind: 'root' }, { fields: ['certificatePem'] });
  return certificatesFromPems(cas.map((c) => c.certificatePem ?? ''));
}
