/**
 * Private CA: lifecycle (SPEC C1, C3, C6, C7): rollover to a new root, subordinate mode, custom extensions and
 * CA certificate downloads. Changes of which CA is active run under one advisory lock (`certfleet.ca`) so two
 * admins (or replicas) cannot activate two CAs at once; exactly one CA is `active` afterwards, and the ones it
 * replaced stay `retired`: still listed, still publishing CRLs, never issuing again.
 */
import crypto, { X509Certificate } from 'node:crypto';
import { z } from 'zod';
import { CertFleetError, keySpecSchema, type KeySpec } from '@certfleet/shared';
import type { CaExtensions, CertificateAuthority } from '../../domain/certificate-authority';
import {
  caExtensionsSchema,
  createRootCa,
  createSubordinateCaRequest,
  trustInstallerScript,
  validateSubordinateCertificate,
} from '../../issuers/internal-ca';
import { storePrivateKey } from '../../secrets/key-vault';
import type { Em } from '../../storage/database';
import { CertificateAuthorityEntity, PrivateKeyEntity } from '../../storage/entities';
import { appendAudit } from '../audit-service';
import type { Actor, ServiceContext } from '../context';
import { parseInput } from '../definition-service';
import { caView, findActiveCa, resolveCa, resolveExtensions, type CaView } from './ca-store';

async function lockCaChanges(em: Em): Promise<void> {
  await em
    .getConnection()
    .execute(`select pg_advisory_xact_lock(hashtext('certfleet.ca'))`, [], 'all', em.getTransactionContext());
}

async function assertSubjectFree(em: Em, subject: string, exceptId?: string): Promise<void> {
  const other = await em.findOne(CertificateAuthorityEntity, { subject });
  if (other && other.id !== exceptId) {
    throw new CertFleetError('CF_CONFLICT', `ca: another CA already has the subject ${subject}`, {
      details: { id: other.id },
    });
  }
}

/** Retires every active CA except `keepId`; returns the ids retired. */
async function retireActive(em: Em, keepId: string): Promise<string[]> {
  const active = await em.find(CertificateAuthorityEntity, { status: 'active', id: { $ne: keepId } });
  for (const ca of active) ca.status = 'retired';
  return active.map((ca) => ca.id);
}

export const rolloverInputSchema = z
  .object({
    keySpec: keySpecSchema.optional().describe('key of the new root; default: the same as the active CA, else EC-P384'),
    name: z.string().trim().min(1).max(200).optional(),
  })
  .strict();

/**
 * CA rollover (SPEC C7): creates a new self-signed root with a unique timestamped DN and makes it the active CA;
 * the previous active CA is retired (kept for validation and CRLs). Custom extensions are carried over, so URL
 * patterns with `{caId}` follow the new CA. Audited.
 * @throws CF_CONFLICT when a CA with the same DN exists (two rollovers in the same second)
 */
export async function rolloverCa(
  ctx: ServiceContext,
  actor: Actor,
  raw: { keySpec?: KeySpec; name?: string } = {}
): Promise<CaView> {
  const input = parseInput(rolloverInputSchema, raw, 'ca.rollover');
  return ctx.db.em().transactional(async (em) => {
    await lockCaChanges(em);
    const previous = await findActiveCa(em);
    let keySpec: KeySpec = input.keySpec ?? 'EC-P384';
    if (!input.keySpec && previous) {
      const key = await em.findOne(PrivateKeyEntity, { id: previous.privateKeyId });
      const parsed = keySpecSchema.safeParse(key?.algorithm);
      if (parsed.success) keySpec = parsed.data;
    }
    const now = ctx.clock.now();
    const root = await createRootCa({ now, keySpec });
    await assertSubjectFree(em, root.subject);
    const key = await storePrivateKey(em, ctx.masterKey, crypto.createPrivateKey(root.privateKeyPem), {
      algorithm: root.keySpec,
      exportable: false,
      label: `CA ${root.subject}`,
      now,
    });
    const ca: CertificateAuthority = {
      id: crypto.randomUUID(),
      name: input.name ?? 'CertFleet Root CA',
      kind: 'root',
      subject: root.subject,
      certificatePem: root.certificatePem,
      chainPem: [],
      csrPem: null,
      privateKeyId: key.id,
      status: 'active',
      extensions: { ...(previous?.extensions ?? {}) },
      crlNumber: 0,
      createdAt: now,
    };
    const retired = await retireActive(em, ca.id);
    em.persist(em.create(CertificateAuthorityEntity, ca));
    await appendAudit(
      em,
      {
        actor,
        action: 'ca.rolled-over',
        targetType: 'ca',
        targetId: ca.id,
        details: { subject: root.subject, keySpec: root.keySpec, retired },
      },
      now
    );
    await em.flush();
    return caView(em, ca);
  });
}

export const subordinateInputSchema = z
  .object({
    name: z.string().trim().min(1).max(43).describe('CA name; the CN becomes "<name> <timestamp>"'),
    keySpec: keySpecSchema.default('EC-P384'),
  })
  .strict();

/**
 * Subordinate mode, step 1 (SPEC C1): generates a CA key (sealed at once, never exportable) and a CSR asking
 * for CA:TRUE, stored as a `pending` subordinate CA. Audited.
 * @returns the pending CA and its CSR (PEM), to be signed by the parent CA
 */
export async function createSubordinateCsr(
  ctx: ServiceContext,
  actor: Actor,
  raw: { name: string; keySpec?: KeySpec }
): Promise<{ ca: CaView; csrPem: string }> {
  const input = parseInput(subordinateInputSchema, raw, 'ca.subordinate');
  const now = ctx.clock.now();
  const request = await createSubordinateCaRequest({ name: input.name, keySpec: input.keySpec, now });
  return ctx.db.em().transactional(async (em) => {
    await lockCaChanges(em);
    await assertSubjectFree(em, request.subject);
    const key = await storePrivateKey(em, ctx.masterKey, crypto.createPrivateKey(request.privateKeyPem), {
      algorithm: request.keySpec,
      exportable: false,
      label: `CA ${request.subject}`,
      now,
    });
    const active = await findActiveCa(em);
    const ca: CertificateAuthority = {
      id: crypto.randomUUID(),
      name: input.name,
      kind: 'subordinate',
      subject: request.subject,
      certificatePem: null,
      chainPem: [],
      csrPem: request.csrPem,
      privateKeyId: key.id,
      status: 'pending',
      extensions: { ...(active?.extensions ?? {}) },
      crlNumber: 0,
      createdAt: now,
    };
    em.persist(em.create(CertificateAuthorityEntity, ca));
    await appendAudit(
      em,
      {
        actor,
        action: 'ca.subordinate-requested',
        targetType: 'ca',
        targetId: ca.id,
        details: { subject: request.subject, keySpec: request.keySpec },
      },
      now
    );
    await em.flush();
    return { ca: await caView(em, ca), csrPem: request.csrPem };
  });
}

export const activateInputSchema = z
  .object({
    certificatePem: z
      .string()
      .min(1)
      .max(64 * 1024)
      .describe('the CA certificate issued by the parent'),
    chainPem: z
      .array(
        z
          .string()
          .min(1)
          .max(64 * 1024)
      )
      .max(8)
      .default([])
      .describe('the parent chain up to and including its self-signed root, any order'),
  })
  .strict();

/**
 * Subordinate mode, step 2 (SPEC C1): imports the parent-issued CA certificate after validating it (our key,
 * CA:TRUE, keyCertSign + cRLSign, valid now, chain to a self-signed root verifies), then makes the subordinate CA
 * the active one and retires the previous. Repeating the call with the same certificate is a no-op. Audited.
 * @throws CF_VALIDATION (naming the failed check), CF_CONFLICT (not pending), CF_NOT_FOUND
 */
export async function activateSubordinate(
  ctx: ServiceContext,
  caId: string,
  certificatePem: string,
  chainPem: string[],
  actor: Actor
): Promise<CaView> {
  const input = parseInput(activateInputSchema, { certificatePem, chainPem }, 'ca.activate');
  return ctx.db.em().transactional(async (em) => {
    await lockCaChanges(em);
    const ca = await resolveCa(em, caId);
    if (ca.kind !== 'subordinate') throw new CertFleetError('CF_CONFLICT', `ca: ${ca.id} is not a subordinate CA`);
    const key = await em.findOneOrFail(PrivateKeyEntity, { id: ca.privateKeyId });
    const now = ctx.clock.now();
    const validated = validateSubordinateCertificate({
      certificatePem: input.certificatePem,
      key: key.publicKeyPem,
      chainPem: input.chainPem,
      now,
    });
    if (ca.status !== 'pending') {
      if (
        ca.certificatePem &&
        new X509Certificate(ca.certificatePem).fingerprint256 ===
          new X509Certificate(validated.certificatePem).fingerprint256
      ) {
        return caView(em, ca);
      }
      throw new CertFleetError('CF_CONFLICT', `ca: ${ca.id} is ${ca.status}, not waiting for a certificate`);
    }
    await assertSubjectFree(em, validated.subject, ca.id);
    ca.certificatePem = validated.certificatePem;
    ca.chainPem = validated.chainPem;
    ca.subject = validated.subject;
    ca.status = 'active';
    const retired = await retireActive(em, ca.id);
    await appendAudit(
      em,
      {
        actor,
        action: 'ca.subordinate-activated',
        targetType: 'ca',
        targetId: ca.id,
        details: {
          subject: validated.subject,
          issuer: validated.chainPem.length
            ? new X509Certificate(validated.chainPem[0]!).subject.replace(/\n/g, ', ')
            : null,
          serial: validated.serial,
          sha256: validated.sha256,
          retired,
        },
      },
      now
    );
    await em.flush();
    return caView(em, ca);
  });
}

/**
 * Sets the custom extensions (SPEC C3) put into every certificate the CA issues from now on. URLs may contain
 * `{caId}`, replaced by the issuing CA's id. An empty object removes them all. Audited.
 * @throws CF_VALIDATION for a URL that is not absolute http(s)/ldap printable ASCII
 */
export async function setCaExtensions(
  ctx: ServiceContext,
  caRef: string,
  extensions: CaExtensions,
  actor: Actor
): Promise<CaView> {
  const parsed = parseInput(caExtensionsSchema, extensions, 'ca.extensions');
  return ctx.db.em().transactional(async (em) => {
    const ca = await resolveCa(em, caRef);
    try {
      resolveExtensions(parsed, ca.id);
    } catch (err) {
      throw new CertFleetError('CF_VALIDATION', 'ca.extensions: a URL is invalid once {caId} is filled in', {
        cause: err,
      });
    }
    const clean: CaExtensions = {};
    for (const k of ['crlDistributionPoint', 'caIssuersUrl', 'ocspUrl'] as const) if (parsed[k]) clean[k] = parsed[k];
    const before = ca.extensions ?? {};
    ca.extensions = clean;
    const now = ctx.clock.now();
    await appendAudit(
      em,
      { actor, action: 'ca.extensions-changed', targetType: 'ca', targetId: ca.id, details: { before, after: clean } },
      now
    );
    await em.flush();
    return caView(em, ca);
  });
}

/**
 * The CA certificate for download (SPEC C6): PEM text or DER bytes.
 * @throws CF_NOT_FOUND; CF_CA_UNAVAILABLE for a subordinate CA without its certificate yet
 */
export async function caCertificate(
  ctx: ServiceContext,
  caRef: string,
  format: 'pem' | 'der'
): Promise<{ caId: string; subject: string; body: Buffer; notBefore: Date; notAfter: Date }> {
  const ca = await resolveCa(ctx.db.em(), caRef);
  if (!ca.certificatePem) {
    throw new CertFleetError('CF_CA_UNAVAILABLE', `ca: ${ca.id} is waiting for its certificate`);
  }
  const cert = new X509Certificate(ca.certificatePem);
  const body = format === 'der' ? cert.raw : Buffer.from(ca.certificatePem);
  return {
    caId: ca.id,
    subject: ca.subject,
    body,
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
  };
}

/** The trust installer script (SPEC C6) for a CA, with a file name for downloads. */
export async function caTrustInstaller(
  ctx: ServiceContext,
  caRef: string
): Promise<{ caId: string; fileName: string; script: string }> {
  const ca = await resolveCa(ctx.db.em(), caRef);
  if (!ca.certificatePem) {
    throw new CertFleetError('CF_CA_UNAVAILABLE', `ca: ${ca.id} is waiting for its certificate`);
  }
  const label = `${ca.name} ${ca.id.slice(0, 8)}`;
  return {
    caId: ca.id,
    fileName: `certfleet-ca-${ca.id.slice(0, 8)}-install.sh`,
    script: trustInstallerScript(ca.certificatePem, label),
  };
}
