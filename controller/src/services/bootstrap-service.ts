import crypto from 'node:crypto';
import os from 'node:os';
import net from 'node:net';
import { generateKeyPair, summarizeCertificate } from '@certfleet/shared';
import type { Certificate } from '../domain/certificate';
import { isDnsName, type San } from '../domain/definition';
import { createRootCa, issueServerCertificate } from '../issuers/internal-ca';
import { openPrivateKey, storePrivateKey } from '../secrets/key-vault';
import type { Em } from '../storage/database';
import { CertificateAuthorityEntity, CertificateEntity, DefinitionEntity, SettingEntity } from '../storage/entities';
import { appendAudit } from './audit-service';
import { createInitialAdmin } from './auth-service';
import { recordIssuance } from './ca-service';
import type { ServiceContext } from './context';
import { certificateFromSummary } from './certificate-service';
import { insertDefinition } from './definition-service';
import { syncCatalogue } from './product-service';

const CONSOLE_DEFINITION_KEY = 'controller.consoleDefinitionId';
/** Console certificate lifetime, and how long before expiry the controller renews it at start. */
export const CONSOLE_CERT_DAYS = 397;
export const CONSOLE_RENEW_BEFORE_DAYS = 30;

export interface BootstrapResult {
  /** Set only on the very first start: the generated admin password, to print once. */
  initialAdmin: { username: string; password: string } | null;
  caCreated: boolean;
  consoleCertificate: { certificatePem: string; chainPem: string[]; privateKeyPem: string; renewed: boolean };
}

async function setting(em: Em, key: string): Promise<unknown> {
  return (await em.findOne(SettingEntity, { key }))?.value;
}

/** The id of the console's own definition (type "this controller", SPEC U3), once bootstrap has made it. */
export async function consoleDefinitionId(em: Em): Promise<string | undefined> {
  const id = await setting(em, CONSOLE_DEFINITION_KEY);
  return typeof id === 'string' ? id : undefined;
}

/** The active built-in root CA; created on first start (SPEC C1) with its key sealed under the KEK. */
async function ensureRootCa(
  ctx: ServiceContext,
  em: Em
): Promise<{ id: string; certificatePem: string; chainPem: string[]; privateKeyId: string; created: boolean }> {
  const active = await em.findOne(CertificateAuthorityEntity, { status: 'active', certificatePem: { $ne: null } });
  if (active?.certificatePem)
    return {
      id: active.id,
      certificatePem: active.certificatePem,
      chainPem: active.chainPem,
      privateKeyId: active.privateKeyId,
      created: false,
    };
  const now = ctx.clock.now();
  const root = await createRootCa({ now });
  const key = await storePrivateKey(em, ctx.masterKey, crypto.createPrivateKey(root.privateKeyPem), {
    algorithm: root.keySpec,
    exportable: false,
    label: `CA ${root.subject}`,
    now,
  });
  const ca = em.create(CertificateAuthorityEntity, {
    id: crypto.randomUUID(),
    name: 'CertFleet Root CA',
    kind: 'root',
    subject: root.subject,
    certificatePem: root.certificatePem,
    chainPem: [],
    csrPem: null,
    privateKeyId: key.id,
    status: 'active',
    extensions: {},
    crlNumber: 0,
    createdAt: now,
  });
  em.persist(ca);
  await appendAudit(
    em,
    { actor: 'system', action: 'ca.created', targetType: 'ca', targetId: ca.id, details: { subject: root.subject } },
    now
  );
  return { id: ca.id, certificatePem: root.certificatePem, chainPem: [], privateKeyId: key.id, created: true };
}

/** Names for the console certificate: configured names, else the host name plus loopback names. */
export function consoleSans(publicHostnames: string[]): Array<Extract<San, { type: 'dns' | 'ip' }>> {
  // The machine's host name is used only when it is a valid DNS name (no underscores, no trailing dot).
  const host = os.hostname().toLowerCase();
  const names = publicHostnames.length
    ? publicHostnames
    : [
        ...(isDnsName(host) && !host.endsWith('.') && !host.includes('_') ? [host] : []),
        'localhost',
        '127.0.0.1',
        '::1',
      ];
  const seen = new Set<string>();
  const sans: Array<Extract<San, { type: 'dns' | 'ip' }>> = [];
  for (const n of names) {
    const v = n.toLowerCase();
    if (seen.has(v)) continue;
    seen.add(v);
    sans.push(net.isIP(v) ? { type: 'ip', value: v } : { type: 'dns', value: v });
  }
  return sans;
}

/**
 * The console's own TLS certificate (SPEC U3): a definition of type "this controller", issued by the built-in CA
 * and renewed at start when it is within 30 days of expiry or its names changed.
 */
async function ensureConsoleCertificate(
  ctx: ServiceContext,
  em: Em,
  ca: { id: string; certificatePem: string; chainPem: string[]; privateKeyId: string },
  publicHostnames: string[]
): Promise<BootstrapResult['consoleCertificate']> {
  const now = ctx.clock.now();
  const sans = consoleSans(publicHostnames);
  const firstDns = sans.find((s) => s.type === 'dns')?.value ?? 'certfleet-controller';
  let defId = (await setting(em, CONSOLE_DEFINITION_KEY)) as string | undefined;
  let def = defId ? await em.findOne(DefinitionEntity, { id: defId }) : null;
  if (!def) {
    def = await insertDefinition(
      em,
      {
        name: 'CertFleet controller console',
        subject: { commonName: firstDns.slice(0, 64), organization: 'CertFleet' },
        sans,
        keySpec: 'EC-P256',
        productId: null,
        requirements: null,
        issuerType: 'internal-ca',
        issuerConfig: {},
        providerAccountId: null,
        deployTargets: [{ serverName: 'this controller', serverType: 'this-controller' }],
        operationMode: 'managed',
        processMode: 'unattended',
        renewalLeadDays: CONSOLE_RENEW_BEFORE_DAYS,
        trustedCaSetId: null,
      },
      now,
      'system'
    );
    defId = def.id;
    em.persist(em.create(SettingEntity, { key: CONSOLE_DEFINITION_KEY, value: def.id, updatedAt: now }));
  }
  const sansKey = (list: San[]): string =>
    list
      .map((s) => `${s.type}:${s.value}`)
      .sort()
      .join(',');
  if (sansKey(def.sans) !== sansKey(sans)) {
    def.sans = sans;
    def.subject = { ...def.subject, commonName: firstDns.slice(0, 64) };
    def.updatedAt = now;
  }
  const current = await em.findOne(CertificateEntity, { definitionId: def.id, isCurrent: true });
  const currentNames = current ? [...current.sans].sort().join(',') : '';
  const wantNames = sans
    .map((s) => `${s.type === 'dns' ? 'DNS' : 'IP'}:${s.value}`)
    .sort()
    .join(',');
  const fresh =
    current &&
    current.privateKeyId &&
    current.notAfter.getTime() - now.getTime() > CONSOLE_RENEW_BEFORE_DAYS * 86_400_000 &&
    currentNames === wantNames;
  if (fresh && current?.privateKeyId) {
    const key = await openPrivateKey(em, ctx.masterKey, current.privateKeyId);
    return {
      certificatePem: current.pem,
      chainPem: current.chainPem,
      privateKeyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString(),
      renewed: false,
    };
  }

  const caKey = await openPrivateKey(em, ctx.masterKey, ca.privateKeyId);
  const pair = await generateKeyPair('EC-P256');
  const privateKey = crypto.createPrivateKey(pair.privateKeyPem);
  const issued = await issueServerCertificate({
    ca: { certificatePem: ca.certificatePem, privateKeyPem: caKey.export({ type: 'pkcs8', format: 'pem' }).toString() },
    subjectPublicKeyPem: pair.publicKeyPem,
    subject: { commonName: firstDns.slice(0, 64), organization: 'CertFleet' },
    sans,
    now,
    validityDays: CONSOLE_CERT_DAYS,
  });
  const keyRec = await storePrivateKey(em, ctx.masterKey, privateKey, {
    algorithm: 'EC-P256',
    label: 'console TLS',
    now,
  });
  const s = summarizeCertificate(new crypto.X509Certificate(issued.certificatePem).raw);
  // The console certificate is in use as soon as the controller listens: current, with no pending delivery.
  if (current) {
    current.isCurrent = false;
    await em.flush();
  }
  const cert: Certificate = {
    ...certificateFromSummary(s, {
      id: crypto.randomUUID(),
      definitionId: def.id,
      requestId: null,
      privateKeyId: keyRec.id,
      chainPem: [ca.certificatePem, ...ca.chainPem],
      source: 'internal-ca',
      createdAt: now,
    }),
    isCurrent: true,
  };
  em.persist(em.create(CertificateEntity, cert));
  // Every certificate the built-in CA signs is in its register (C2, C4): the console certificate too.
  recordIssuance(em, {
    caId: ca.id,
    certificatePem: issued.certificatePem,
    kind: 'server',
    certificateId: cert.id,
    issuedAt: now,
  });
  await appendAudit(
    em,
    {
      actor: 'system',
      action: 'certificate.issued',
      targetType: 'certificate',
      targetId: cert.id,
      details: { definitionId: def.id, purpose: 'console', sha256: cert.sha256 },
    },
    now
  );
  return { certificatePem: cert.pem, chainPem: cert.chainPem, privateKeyPem: pair.privateKeyPem, renewed: true };
}

/**
 * Everything the first start creates (root CA, console certificate, admin account), in one transaction guarded by
 * an advisory lock so that two replicas starting together do not both bootstrap. Later starts only load.
 */
export async function bootstrap(ctx: ServiceContext, publicHostnames: string[]): Promise<BootstrapResult> {
  return ctx.db.em().transactional(async (em) => {
    await em
      .getConnection()
      .execute(`select pg_advisory_xact_lock(hashtext('certfleet.bootstrap'))`, [], 'all', em.getTransactionContext());
    const ca = await ensureRootCa(ctx, em);
    await em.flush();
    const consoleCertificate = await ensureConsoleCertificate(ctx, em, ca, publicHostnames);
    await syncCatalogue(em, ctx.clock.now());
    const initialAdmin = await createInitialAdmin(em, ctx.clock.now());
    return { initialAdmin, caCreated: ca.created, consoleCertificate };
  });
}
