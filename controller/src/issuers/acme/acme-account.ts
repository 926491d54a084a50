/**
 * ACME accounts (SPEC A2): one account per directory URL, shared by every definition that uses that CA.
 *
 * The first use of a directory creates an EC P-256 account key, stores it as a private key object sealed under the
 * master key (key vault, not exportable) and inserts the `acme_accounts` row — all in one transaction, *before* the
 * CA is contacted — and then registers the account (RFC 8555 §7.3, with External Account Binding when configured)
 * and records its URL. Later uses reuse the row and the key. This order makes every failure recoverable:
 * - two controllers racing for the same directory: the unique `directory_url` lets one insert win; the loser reads
 *   the winner's row;
 * - a crash or CA error between insert and registration leaves a row with no account URL: the next use registers
 *   with the stored key (newAccount with a known key returns the existing account, §7.3.1);
 * - the CA forgot the account (`accountDoesNotExist`, e.g. a test CA restarted): {@link reRegister} registers the
 *   same key again and records the new URL.
 * The EAB HMAC key is read from the sealed `secrets` table only when registering.
 */
import crypto, { type KeyObject } from 'node:crypto';
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import { CertFleetError, generateKeyPair } from '@certfleet/shared';
import { unseal } from '../../secrets/envelope';
import { openPrivateKey, storePrivateKey } from '../../secrets/key-vault';
import { SEALED_COLUMNS, sealContext } from '../../secrets/sealed-columns';
import type { ServiceContext } from '../../services/context';
import { AcmeAccountEntity, SecretEntity, type AcmeAccountRow } from '../../storage/entities';

export interface AcmeAccountConfig {
  directoryUrl: string;
  email?: string | undefined;
  eab?: { kid: string; hmacKeySecretName: string } | undefined;
}

/** The account as the order flow needs it. */
export interface AcmeAccountHandle {
  id: string;
  directoryUrl: string;
  /** null until registered with the CA. */
  accountUrl: string | null;
  email: string | null;
  /** PKCS#8 PEM of the account key (in memory only for the duration of one call). */
  accountKeyPem: string;
}

/** Loads the account row for `directoryUrl`, creating row + key on first use (not yet registered with the CA). */
export async function loadOrCreateAccount(ctx: ServiceContext, config: AcmeAccountConfig): Promise<AcmeAccountHandle> {
  let row = await ctx.db.em().findOne(AcmeAccountEntity, { directoryUrl: config.directoryUrl });
  if (!row) {
    const pair = await generateKeyPair('EC-P256');
    const key = crypto.createPrivateKey(pair.privateKeyPem);
    try {
      row = await ctx.db.em().transactional(async (em) => {
        const existing = await em.findOne(AcmeAccountEntity, { directoryUrl: config.directoryUrl });
        if (existing) return existing;
        const now = ctx.clock.now();
        const keyRecord = await storePrivateKey(em, ctx.masterKey, key, {
          algorithm: 'EC-P256',
          exportable: false,
          label: `ACME account key for ${config.directoryUrl}`.slice(0, 200),
          now,
        });
        const created = em.create(AcmeAccountEntity, {
          id: crypto.randomUUID(),
          directoryUrl: config.directoryUrl,
          email: config.email ?? null,
          accountUrl: null,
          privateKeyId: keyRecord.id,
          eabKid: config.eab?.kid ?? null,
          createdAt: now,
        });
        em.persist(created);
        return created;
      });
      ctx.log.info({ directoryUrl: config.directoryUrl, accountId: row.id }, 'acme: account key created');
    } catch (err) {
      if (!(err instanceof UniqueConstraintViolationException)) throw err;
      // another controller created it at the same moment: use theirs
      row = await ctx.db.em().findOne(AcmeAccountEntity, { directoryUrl: config.directoryUrl });
      if (!row) throw err;
    }
  }
  return handleOf(ctx, row);
}

async function handleOf(ctx: ServiceContext, row: AcmeAccountRow): Promise<AcmeAccountHandle> {
  const key: KeyObject = await openPrivateKey(ctx.db.em(), ctx.masterKey, row.privateKeyId);
  return {
    id: row.id,
    directoryUrl: row.directoryUrl,
    accountUrl: row.accountUrl,
    email: row.email,
    accountKeyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

/** Reads the EAB HMAC key (base64url, as the CA gave it) from the sealed secrets table. */
export async function readEabHmacKey(ctx: ServiceContext, secretName: string): Promise<string> {
  const row = await ctx.db.em().findOne(SecretEntity, { id: secretName });
  if (!row) {
    throw new CertFleetError(
      'CF_ISSUER_CONFIG_INVALID',
      `acme(account): the EAB HMAC key secret ${JSON.stringify(secretName)} does not exist`,
      { details: { secretName } }
    );
  }
  const plain = unseal(ctx.masterKey, sealContext(SEALED_COLUMNS.namedSecret, secretName), row.sealed);
  try {
    const text = plain.toString('utf8').trim();
    if (!/^[A-Za-z0-9_\-+/]+=*$/.test(text)) {
      throw new CertFleetError(
        'CF_ISSUER_CONFIG_INVALID',
        `acme(account): the EAB HMAC key in secret ${JSON.stringify(secretName)} is not base64url`,
        { details: { secretName } }
      );
    }
    return text;
  } finally {
    plain.fill(0);
  }
}

/** Records the registration result (account URL, contact, EAB kid). */
export async function recordRegistration(
  ctx: ServiceContext,
  account: AcmeAccountHandle,
  update: { accountUrl: string; email: string | null; eabKid?: string | null }
): Promise<void> {
  await ctx.db.em().transactional(async (em) => {
    const row = await em.findOneOrFail(AcmeAccountEntity, { id: account.id });
    row.accountUrl = update.accountUrl;
    row.email = update.email;
    if (update.eabKid !== undefined) row.eabKid = update.eabKid;
  });
  account.accountUrl = update.accountUrl;
  account.email = update.email;
}
