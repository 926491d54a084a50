/**
 * Private CA (SPEC C1–C7): lookups, views and the in-memory signing material shared by the CA services and the
 * `internal-ca` issuer. No HTTP here (STYLE §7.6): errors are CertFleetErrors.
 */
import { X509Certificate } from 'node:crypto';
import { z } from 'zod';
import { CertFleetError, summarizeCertificate } from '@certfleet/shared';
import type { CaExtensions, CertificateAuthority } from '../../domain/certificate-authority';
import { caExtensionsSchema, crlSigner, loadCa, type CrlSigner, type LoadedCa } from '../../issuers/internal-ca';
import { openPrivateKey } from '../../secrets/key-vault';
import type { Database, Em } from '../../storage/database';
import { CaIssuanceEntity, CertificateAuthorityEntity } from '../../storage/entities';
import type { ServiceContext } from '../context';

/** A CA reference from the API/CLI: its id, or `active` for the CA that currently issues. */
export const caRefSchema = z
  .union([z.uuid(), z.literal('active')])
  .describe('CA id (uuid), or "active" for the CA that currently issues');
export type CaRef = z.infer<typeof caRefSchema>;

/** What the API and CLI show about a CA. */
export interface CaView {
  id: string;
  name: string;
  kind: 'root' | 'subordinate';
  status: 'pending' | 'active' | 'retired';
  subject: string;
  /** Null while a subordinate CA waits for its certificate. */
  serial: string | null;
  issuer: string | null;
  notBefore: string | null;
  notAfter: string | null;
  keyAlgorithm: string | null;
  sha256: string | null;
  extensions: CaExtensions;
  crlNumber: number;
  createdAt: Date;
  certificatePem: string | null;
  chainPem: string[];
  csrPem: string | null;
  issued: number;
  revoked: number;
}

export function caNotFound(ref: string): CertFleetError {
  return new CertFleetError('CF_NOT_FOUND', `ca: certificate authority ${ref} not found`);
}

export function noActiveCa(): CertFleetError {
  return new CertFleetError(
    'CF_CA_UNAVAILABLE',
    'ca: no active certificate authority (start the controller once to create the root CA, or activate a subordinate CA)'
  );
}

/** The CA that issues now, or null. */
export async function findActiveCa(em: Em): Promise<CertificateAuthority | null> {
  return em.findOne(
    CertificateAuthorityEntity,
    { status: 'active', certificatePem: { $ne: null } },
    { orderBy: { createdAt: 'desc' } }
  );
}

/**
 * Resolves a {@link CaRef}.
 * @throws CF_NOT_FOUND for an unknown id; CF_CA_UNAVAILABLE for `active` when there is none
 */
export async function resolveCa(em: Em, ref: string): Promise<CertificateAuthority> {
  if (ref === 'active') {
    const active = await findActiveCa(em);
    if (!active) throw noActiveCa();
    return active;
  }
  if (!z.uuid().safeParse(ref).success) throw caNotFound(ref);
  const ca = await em.findOne(CertificateAuthorityEntity, { id: ref });
  if (!ca) throw caNotFound(ref);
  return ca;
}

/** The chain a leaf issued by `ca` is served with: the CA certificate, then its parents (issuer first). */
export function chainOf(ca: CertificateAuthority): string[] {
  if (!ca.certificatePem) throw new CertFleetError('CF_CA_UNAVAILABLE', `ca: ${ca.id} has no certificate yet`);
  return [ca.certificatePem, ...ca.chainPem];
}

/**
 * The CA's custom extensions with the `{caId}` placeholder replaced, so one URL pattern
 * (`https://pki.example.com/pki/{caId}/crl`) survives rollover.
 */
export function resolveExtensions(extensions: CaExtensions, caId: string): CaExtensions {
  const out: CaExtensions = {};
  for (const key of ['crlDistributionPoint', 'caIssuersUrl', 'ocspUrl'] as const) {
    const value = extensions[key];
    if (value) out[key] = value.split('{caId}').join(caId);
  }
  return caExtensionsSchema.parse(out);
}

export async function caView(em: Em, ca: CertificateAuthority): Promise<CaView> {
  const [issued, revoked] = await Promise.all([
    em.count(CaIssuanceEntity, { caId: ca.id }),
    em.count(CaIssuanceEntity, { caId: ca.id, revokedAt: { $ne: null } }),
  ]);
  const s = ca.certificatePem ? summarizeCertificate(new X509Certificate(ca.certificatePem).raw) : null;
  return {
    id: ca.id,
    name: ca.name,
    kind: ca.kind,
    status: ca.status,
    subject: ca.subject,
    serial: s ? normalizeSerial(s.serial) : null,
    issuer: s?.issuer ?? null,
    notBefore: s?.notBefore ?? null,
    notAfter: s?.notAfter ?? null,
    keyAlgorithm: s?.keyAlgorithm ?? null,
    sha256: s?.sha256 ?? null,
    extensions: ca.extensions ?? {},
    crlNumber: ca.crlNumber,
    createdAt: ca.createdAt,
    certificatePem: ca.certificatePem,
    chainPem: ca.chainPem,
    csrPem: ca.csrPem,
    issued,
    revoked,
  };
}

/** One CA's view (`active` for the issuing CA). */
export async function caInfo(ctx: ServiceContext, caRef: string): Promise<CaView> {
  const em = ctx.db.em();
  return caView(em, await resolveCa(em, caRef));
}

/** All CAs, active first, then pending, then retired (newest first within each). */
export async function listCas(em: Em): Promise<CaView[]> {
  const rows = await em.find(CertificateAuthorityEntity, {}, { orderBy: { createdAt: 'desc' } });
  const rank = { active: 0, pending: 1, retired: 2 } as const;
  rows.sort((a, b) => rank[a.status] - rank[b.status]);
  const views: CaView[] = [];
  for (const row of rows) views.push(await caView(em, row));
  return views;
}

/** Upper-case hex without leading zeros: the one serial form stored in ca_issuances and matched on revocation. */
export function normalizeSerial(serial: string): string {
  const hex = serial.replace(/[:\s]/g, '');
  if (!/^[0-9a-fA-F]{1,64}$/.test(hex)) {
    throw new CertFleetError('CF_VALIDATION', `ca: ${JSON.stringify(serial)} is not a hex serial number`);
  }
  return hex.replace(/^0+(?=.)/, '').toUpperCase();
}

// ---------------------------------------------------------------------------------------------------------------
// Signing material: the CA key is unsealed once per process and CA certificate, then kept in memory.

export interface CaSigningMaterial {
  certificatePem: string;
  /** For certificates (@peculiar/x509 on WebCrypto). */
  loaded: LoadedCa;
  /** For CRLs (native signing). */
  crl: CrlSigner;
}

const materialCache = new WeakMap<Database, Map<string, { pem: string; material: Promise<CaSigningMaterial> }>>();

/**
 * The signing material of `ca`, cached per database handle and CA certificate (a subordinate CA's activation
 * changes the certificate and so reloads).
 * @throws CF_CA_UNAVAILABLE when the CA has no certificate yet
 */
export async function signingMaterial(
  ctx: ServiceContext,
  em: Em,
  ca: CertificateAuthority
): Promise<CaSigningMaterial> {
  const pem = ca.certificatePem;
  if (!pem) throw new CertFleetError('CF_CA_UNAVAILABLE', `ca: ${ca.id} is waiting for its certificate`);
  let perDb = materialCache.get(ctx.db);
  if (!perDb) {
    perDb = new Map();
    materialCache.set(ctx.db, perDb);
  }
  const cached = perDb.get(ca.id);
  if (cached && cached.pem === pem) return cached.material;
  const material = (async (): Promise<CaSigningMaterial> => {
    const key = await openPrivateKey(em, ctx.masterKey, ca.privateKeyId);
    const loaded = await loadCa({
      certificatePem: pem,
      privateKeyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString(),
    });
    return { certificatePem: pem, loaded, crl: crlSigner({ certificatePem: pem, privateKey: key }) };
  })();
  perDb.set(ca.id, { pem, material });
  void material.catch(() => perDb.delete(ca.id));
  return material;
}
