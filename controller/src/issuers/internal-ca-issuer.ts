/**
 * Issuer `internal-ca` (SPEC A2, C2, C3): the built-in private CA as an issuer plugin. Synchronous: it signs at
 * once and never answers `pending`.
 *
 * Config keys:
 * - `caId` (uuid, optional): sign with this CA; it must be active. Default: whichever CA is active.
 * - `validityDays` (1..825, default 397): the most the issuer grants; a shorter requested lifetime wins.
 *
 * Only the public key is read from the CSR (after its self-signature is verified); subject and SANs come from the
 * definition; the CA's custom extensions (CRL distribution point, AIA) are added; the issuance is recorded in
 * ca_issuances (kind `server`) in the signing transaction. The chain returned is the CA certificate and its
 * parents. Errors are never retryable: no active CA → CF_CA_UNAVAILABLE; bad CSR → CF_CSR_INVALID; names the
 * private CA cannot put in a server certificate (e-mail, URI) → CF_ISSUER_REJECTED.
 */
import { z } from 'zod';
import { CertFleetError } from '@certfleet/shared';
import type { IssueOutcome, IssueRequest, IssuerDefinition } from './issuer';
import { defineIssuer } from './registry';
import { issueServerCertificate, publicKeyFromCsr, type SubjectAltName } from './internal-ca';
import {
  chainOf,
  findActiveCa,
  recordIssuance,
  resolveCa,
  resolveExtensions,
  signingMaterial,
} from '../services/ca-service';

export const internalCaConfigSchema = z
  .object({
    caId: z.uuid().optional().describe('CA that signs (must be active); default: the active CA'),
    validityDays: z
      .number()
      .int()
      .min(1)
      .max(825)
      .default(397)
      .describe('longest lifetime granted, in days (1..825, default 397)'),
  })
  .strict();
export type InternalCaConfig = z.infer<typeof internalCaConfigSchema>;

function rejected(message: string, details?: Record<string, unknown>): CertFleetError {
  return new CertFleetError('CF_ISSUER_REJECTED', `issuer(internal-ca): ${message}`, {
    retryable: false,
    ...(details ? { details } : {}),
  });
}

function unavailable(message: string): CertFleetError {
  return new CertFleetError('CF_CA_UNAVAILABLE', `issuer(internal-ca): ${message}`, { retryable: false });
}

export const internalCaDefinition: IssuerDefinition<InternalCaConfig> = {
  type: 'internal-ca',
  title: 'Built-in private CA',
  config: internalCaConfigSchema,
  create: (config, { ctx }) => ({
    async issue(req: IssueRequest, signal: AbortSignal): Promise<IssueOutcome> {
      signal.throwIfAborted();
      const key = publicKeyFromCsr(req.csrPem);
      if (key.keySpec !== req.keySpec) {
        throw new CertFleetError(
          'CF_CSR_INVALID',
          `issuer(internal-ca): the CSR key is ${key.keySpec} but the definition requires ${req.keySpec}`,
          { details: { csrKeySpec: key.keySpec, keySpec: req.keySpec } }
        );
      }
      const unsupported = req.sans.filter((s) => s.type !== 'dns' && s.type !== 'ip');
      if (unsupported.length) {
        throw rejected('only DNS names and IP addresses can be put in a server certificate', {
          unsupported: unsupported.map((s) => `${s.type}:${s.value}`),
        });
      }
      const sans = req.sans as SubjectAltName[];
      return ctx.db.em().transactional(async (em) => {
        const ca = config.caId ? await resolveCa(em, config.caId) : await findActiveCa(em);
        if (!ca) throw unavailable('no active CA');
        if (ca.status !== 'active' || !ca.certificatePem) throw unavailable(`CA ${ca.id} is ${ca.status}, not active`);
        const material = await signingMaterial(ctx, em, ca);
        signal.throwIfAborted();
        const now = ctx.clock.now();
        const issued = await issueServerCertificate({
          ca: material.loaded,
          subjectPublicKeyPem: key.publicKeyPem,
          subject: req.subject,
          sans,
          now,
          validityDays: Math.min(req.validityDays, config.validityDays),
          extensions: resolveExtensions(ca.extensions ?? {}, ca.id),
        });
        recordIssuance(em, { caId: ca.id, certificatePem: issued.certificatePem, kind: 'server', issuedAt: now });
        return { kind: 'issued', leafPem: issued.certificatePem, chainPem: chainOf(ca), externalId: issued.serial };
      });
    },
  }),
};

/** The registered `internal-ca` issuer (put it in the explicit issuer list). */
export const internalCaIssuer = defineIssuer(internalCaDefinition);
