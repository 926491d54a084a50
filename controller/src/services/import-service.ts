import crypto from 'node:crypto';
import { z } from 'zod';
import { CertFleetError, parseMaterial, type ParsedMaterial } from '@certfleet/shared';
import type { Certificate } from '../domain/certificate';
import type { CertificateDefinition, DefinitionInput, OperationMode } from '../domain/definition';
import { sansFromStrings, subjectFromDn } from '../domain/subject';
import { storePrivateKey } from '../secrets/key-vault';
import type { Em } from '../storage/database';
import { CertificateEntity, DefinitionEntity } from '../storage/entities';
import { appendAudit } from './audit-service';
import type { Actor, ServiceContext } from './context';
import { certificateFromSummary, insertCertificate } from './certificate-service';
import { insertDefinition } from './definition-service';

export const importOptionsSchema = z
  .object({
    mode: z.enum(['managed', 'monitored']),
    password: z.string().max(1024).optional(),
    keyPassword: z.string().max(1024).optional(),
    name: z.string().min(1).max(200).optional().describe('definition name; defaults to the common name'),
    definitionId: z.uuid().optional().describe('attach to this existing definition instead of creating one'),
    fileName: z.string().max(255).optional(),
  })
  .strict();
export type ImportOptions = z.infer<typeof importOptionsSchema>;

export interface ImportFiles {
  file: Buffer;
  key?: Buffer;
  chain?: Buffer;
}

export interface ImportResult {
  definition: CertificateDefinition;
  certificate: Certificate;
  privateKeyId: string | null;
  /** True when the imported certificate carries its key and can be redeployed (SPEC I2). */
  redeployable: boolean;
  format: ParsedMaterial['format'];
}

/** The definition an import creates: DN and SANs from the leaf, in the chosen operation mode (SPEC I2). */
export function definitionFromLeaf(
  leaf: ParsedMaterial['certificates'][number],
  mode: OperationMode,
  name: string,
  keyAlgorithm: string
): DefinitionInput {
  const keySpec =
    (['RSA-2048', 'RSA-3072', 'RSA-4096', 'EC-P256', 'EC-P384'] as const).find((k) => k === keyAlgorithm) ?? 'EC-P256';
  return {
    name,
    subject: subjectFromDn(leaf.subject),
    sans: sansFromStrings(leaf.sans),
    keySpec,
    productId: null,
    requirements: null,
    issuerType: 'manual',
    issuerConfig: {},
    providerAccountId: null,
    deployTargets: [],
    operationMode: mode,
    processMode: 'interactive',
    renewalLeadDays: 60,
    trustedCaSetId: null,
  };
}

async function uniqueName(em: Em, base: string): Promise<string> {
  let name = base.slice(0, 200);
  for (let i = 2; await em.findOne(DefinitionEntity, { name }); i++) name = `${base.slice(0, 190)} (${i})`;
  return name;
}

/**
 * Imports a certificate (with optional key and chain) in any supported format (SPEC I1–I3). Everything happens in
 * one transaction: a failure at any step leaves no definition, key or certificate behind. A certificate already in
 * the repository (same SHA-256) is rejected with CF_IMPORT_DUPLICATE naming the existing record.
 */
export async function importCertificate(
  ctx: ServiceContext,
  files: ImportFiles,
  rawOptions: unknown,
  actor: Actor
): Promise<ImportResult> {
  const parsedOpts = importOptionsSchema.safeParse(rawOptions);
  if (!parsedOpts.success) {
    throw new CertFleetError(
      'CF_VALIDATION',
      `import: ${parsedOpts.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`
    );
  }
  const opts = parsedOpts.data;
  const material = await parseMaterial(files.file, {
    password: opts.password,
    keyPassword: opts.keyPassword,
    key: files.key,
    chain: files.chain,
    fileName: opts.fileName,
  });
  const leaf = material.certificates[0];
  if (!leaf) throw new CertFleetError('CF_IMPORT_NO_CERTIFICATE', 'import: the input holds no certificate');
  if (material.privateKey && material.privateKey.matchesCertificate === false) {
    throw new CertFleetError('CF_IMPORT_KEY_MISMATCH', 'import: the private key does not match the certificate');
  }

  return ctx.db.em().transactional(async (em) => {
    const now = ctx.clock.now();
    const dup = await em.findOne(CertificateEntity, { sha256: leaf.sha256 });
    if (dup) {
      throw new CertFleetError(
        'CF_IMPORT_DUPLICATE',
        `import: certificate ${leaf.sha256} is already in the repository`,
        {
          details: { certificateId: dup.id, definitionId: dup.definitionId, sha256: leaf.sha256 },
        }
      );
    }
    let definition: CertificateDefinition;
    if (opts.definitionId) {
      const existing = await em.findOne(DefinitionEntity, { id: opts.definitionId });
      if (!existing) throw new CertFleetError('CF_NOT_FOUND', `import: definition ${opts.definitionId} not found`);
      definition = existing;
    } else {
      const base = opts.name ?? subjectFromDn(leaf.subject).commonName;
      definition = await insertDefinition(
        em,
        definitionFromLeaf(leaf, opts.mode, await uniqueName(em, base), leaf.keyAlgorithm),
        now,
        actor
      );
    }

    let privateKeyId: string | null = null;
    if (material.privateKey) {
      const keyObject = crypto.createPrivateKey(material.privateKey.pkcs8Pem);
      const key = await storePrivateKey(em, ctx.masterKey, keyObject, {
        algorithm: material.privateKey.algorithm,
        now,
      });
      privateKeyId = key.id;
    }

    // The imported certificate becomes current unless the definition already has a newer current one.
    const current = await em.findOne(CertificateEntity, { definitionId: definition.id, isCurrent: true });
    const notAfter = new Date(leaf.notAfter);
    const certificate = await insertCertificate(
      em,
      certificateFromSummary(leaf, {
        id: crypto.randomUUID(),
        definitionId: definition.id,
        requestId: null,
        privateKeyId,
        chainPem: material.certificates.slice(1).map((c) => c.pem),
        source: 'import',
        createdAt: now,
      }),
      { makeCurrent: !current || current.notAfter < notAfter, now }
    );
    await appendAudit(
      em,
      {
        actor,
        action: 'certificate.imported',
        targetType: 'certificate',
        targetId: certificate.id,
        details: {
          format: material.format,
          sha256: leaf.sha256,
          definitionId: definition.id,
          withKey: privateKeyId !== null,
          chainLength: certificate.chainPem.length,
        },
      },
      now
    );
    return { definition, certificate, privateKeyId, redeployable: privateKeyId !== null, format: material.format };
  });
}
