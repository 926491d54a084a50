/**
 * Private CA: client certificates for console users (SPEC C5, U4), delivered as password-protected PKCS#12
 * (PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC, HMAC-SHA-256 MAC: see issuers/internal-ca/pkcs12.ts).
 * The user's private key exists only inside the returned file: CertFleet never stores it.
 */
import crypto from 'node:crypto';
import { z } from 'zod';
import { CertFleetError, generateKeyPair, keySpecSchema, type KeySpec } from '@certfleet/shared';
import { createPkcs12, issueClientCertificate as signClientCertificate } from '../../issuers/internal-ca';
import { UserEntity } from '../../storage/entities';
import { appendAudit } from '../audit-service';
import type { Actor, ServiceContext } from '../context';
import { parseInput } from '../definition-service';
import { chainOf, findActiveCa, noActiveCa, resolveExtensions, signingMaterial } from './ca-store';
import { recordIssuance } from './issuances';

export const clientCertificateInputSchema = z
  .object({
    username: z.string().min(1).max(64).describe('an existing console user; becomes the certificate CN'),
    password: z.string().min(8, 'at least 8 characters').max(1024).describe('protects the PKCS#12 file'),
    validityDays: z.number().int().min(1).max(825).default(365),
    keySpec: keySpecSchema.default('EC-P256'),
  })
  .strict();
export type ClientCertificateInput = z.input<typeof clientCertificateInputSchema>;

export interface ClientCertificateResult {
  /** The `.p12` file: key, certificate and CA chain. */
  pkcs12: Buffer;
  caId: string;
  serial: string;
  username: string;
  /** Thumbprints for the client-certificate login allow-list (U4): lower-case hex. */
  sha1: string;
  sha256: string;
  notAfter: Date;
  keySpec: KeySpec;
}

/**
 * Issues a client certificate for a console user from the active CA, recorded in ca_issuances as kind
 * `client` and audited (without the password).
 * @throws CF_NOT_FOUND for an unknown user; CF_CA_UNAVAILABLE without an active CA; CF_VALIDATION
 */
export async function issueClientCertificate(
  ctx: ServiceContext,
  raw: ClientCertificateInput,
  actor: Actor
): Promise<ClientCertificateResult> {
  const input = parseInput(clientCertificateInputSchema, raw, 'ca.client-certificate');
  const pair = await generateKeyPair(input.keySpec);
  return ctx.db.em().transactional(async (em) => {
    const user = await em.findOne(UserEntity, { username: input.username });
    if (!user) throw new CertFleetError('CF_NOT_FOUND', `ca: console user ${input.username} not found`);
    const ca = await findActiveCa(em);
    if (!ca) throw noActiveCa();
    const material = await signingMaterial(ctx, em, ca);
    const now = ctx.clock.now();
    const issued = await signClientCertificate({
      ca: material.loaded,
      subjectPublicKeyPem: pair.publicKeyPem,
      username: user.username,
      now,
      validityDays: input.validityDays,
      extensions: resolveExtensions(ca.extensions ?? {}, ca.id),
    });
    const pkcs12 = createPkcs12({
      certificatePem: issued.certificatePem,
      chainPem: chainOf(ca),
      privateKeyPem: pair.privateKeyPem,
      password: input.password,
      friendlyName: `${user.username} (CertFleet)`,
    });
    const row = recordIssuance(em, {
      caId: ca.id,
      certificatePem: issued.certificatePem,
      kind: 'client',
      username: user.username,
      issuedAt: now,
    });
    await appendAudit(
      em,
      {
        actor,
        action: 'ca.client-certificate-issued',
        targetType: 'user',
        targetId: user.id,
        details: { username: user.username, caId: ca.id, serial: row.serial, sha256: row.sha256 },
      },
      now
    );
    const x = new crypto.X509Certificate(issued.certificatePem);
    return {
      pkcs12,
      caId: ca.id,
      serial: row.serial,
      username: user.username,
      sha1: x.fingerprint.replace(/:/g, '').toLowerCase(),
      sha256: row.sha256,
      notAfter: issued.notAfter,
      keySpec: input.keySpec,
    };
  });
}
