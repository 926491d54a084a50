/**
 * The agent channel's own PKI (SPEC G1, G2): a dedicated "agent CA" (separate from the customer-facing root CA, so
 * rotating or revoking one never touches the other) that signs agent client certificates and the controller's
 * gRPC server certificate, and the Ed25519 key that signs bundle manifests (D2). Private halves are sealed under the
 * master key in `secrets`; public halves live in `settings`.
 */
import crypto from 'node:crypto';
import { CONTROLLER_GRPC_NAME, generateKeyPair } from '@certfleet/shared';
import { createRootCa, issueServerCertificate, loadCa, type LoadedCa } from '../../issuers/internal-ca';
import { unseal, seal } from '../../secrets/envelope';
import { SEALED_COLUMNS, sealContext } from '../../secrets/sealed-columns';
import { SecretEntity, SettingEntity } from '../../storage/entities';
import { appendAudit } from '../audit-service';
import type { ServiceContext } from '../context';

const CA_CERT_SETTING = 'agents.ca-certificate';
const CA_KEY_SECRET = 'agents.ca-key';
const SIGNING_PUBLIC_SETTING = 'agents.bundle-signing-public-key';
const SIGNING_KEY_SECRET = 'agents.bundle-signing-key';

export interface AgentPki {
  caCertificatePem: string;
  /** SHA-256 (lower-case hex) of the agent CA's DER: what `certfleet-agent enroll --ca-sha256` expects. */
  caSha256: string;
  ca: LoadedCa;
  /** Ed25519 SPKI PEM: agents pin it at enrollment; offline installers print it. */
  signingPublicKeyPem: string;
  /** Ed25519 PKCS#8 PEM. In memory only. */
  signingPrivateKeyPem: string;
}

export interface GrpcServerIdentity {
  keyPem: string;
  /** Leaf then agent CA. */
  certChainPem: string;
  notAfter: Date;
}

/** Loads the agent PKI, creating the agent CA and the bundle-signing key on first use (audited). */
export async function loadOrCreateAgentPki(ctx: ServiceContext): Promise<AgentPki> {
  const em = ctx.db.em();
  let caSetting = await em.findOne(SettingEntity, { key: CA_CERT_SETTING });
  let signingSetting = await em.findOne(SettingEntity, { key: SIGNING_PUBLIC_SETTING });
  if (!caSetting || !signingSetting) {
    const now = ctx.clock.now();
    const root = await createRootCa({ now, keySpec: 'EC-P256', organization: 'CertFleet Agents', validityYears: 10 });
    const signing = crypto.generateKeyPairSync('ed25519');
    const signingPrivate = signing.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const signingPublic = signing.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    await ctx.db.em().transactional(async (tx) => {
      await tx
        .getConnection()
        .execute(
          `select pg_advisory_xact_lock(hashtext('certfleet.agent-pki'))`,
          [],
          'all',
          tx.getTransactionContext()
        );
      if (await tx.findOne(SettingEntity, { key: CA_CERT_SETTING })) return; // another replica won
      const put = (id: string, value: string) =>
        tx.persist(
          tx.create(SecretEntity, {
            id,
            sealed: seal(ctx.masterKey, sealContext(SEALED_COLUMNS.namedSecret, id), value),
            updatedAt: now,
          })
        );
      put(CA_KEY_SECRET, root.privateKeyPem);
      put(SIGNING_KEY_SECRET, signingPrivate);
      tx.persist(tx.create(SettingEntity, { key: CA_CERT_SETTING, value: root.certificatePem, updatedAt: now }));
      tx.persist(tx.create(SettingEntity, { key: SIGNING_PUBLIC_SETTING, value: signingPublic, updatedAt: now }));
      await appendAudit(
        tx,
        {
          actor: 'system',
          action: 'agents.pki-created',
          targetType: 'agent-ca',
          targetId: root.serial,
          details: { subject: root.subject, notAfter: root.notAfter.toISOString() },
        },
        now
      );
    });
    em.clear();
    caSetting = await em.findOneOrFail(SettingEntity, { key: CA_CERT_SETTING });
    signingSetting = await em.findOneOrFail(SettingEntity, { key: SIGNING_PUBLIC_SETTING });
  }
  const open = async (id: string) => {
    const row = await em.findOneOrFail(SecretEntity, { id });
    return unseal(ctx.masterKey, sealContext(SEALED_COLUMNS.namedSecret, id), row.sealed).toString('utf8');
  };
  const caCertificatePem = String(caSetting.value);
  const ca = await loadCa({ certificatePem: caCertificatePem, privateKeyPem: await open(CA_KEY_SECRET) });
  return {
    caCertificatePem,
    caSha256: crypto.createHash('sha256').update(new crypto.X509Certificate(caCertificatePem).raw).digest('hex'),
    ca,
    signingPublicKeyPem: String(signingSetting.value),
    signingPrivateKeyPem: await open(SIGNING_KEY_SECRET),
  };
}

/** A fresh gRPC server certificate (in memory only) for {@link CONTROLLER_GRPC_NAME} and the public host names. */
export async function issueGrpcServerIdentity(
  ctx: ServiceContext,
  pki: AgentPki,
  hostnames: readonly string[]
): Promise<GrpcServerIdentity> {
  const pair = await generateKeyPair('EC-P256');
  const dns = [CONTROLLER_GRPC_NAME, ...hostnames.filter((h) => /^[A-Za-z0-9.-]+$/.test(h) && h.includes('.'))];
  const issued = await issueServerCertificate({
    ca: pki.ca,
    subjectPublicKeyPem: pair.publicKeyPem,
    subject: { commonName: CONTROLLER_GRPC_NAME, organization: 'CertFleet Agents' },
    sans: [...new Set(dns)].map((value) => ({ type: 'dns' as const, value })),
    now: ctx.clock.now(),
    validityDays: 90,
  });
  return {
    keyPem: pair.privateKeyPem,
    certChainPem: issued.certificatePem + pki.caCertificatePem,
    notAfter: issued.notAfter,
  };
}
