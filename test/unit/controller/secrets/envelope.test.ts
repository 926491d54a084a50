import crypto from 'node:crypto';
import test from 'ava';
import { seal, unseal } from '../../../../controller/src/secrets/envelope';
import { masterKeyFromBytes } from '../../../../controller/src/secrets/master-key';

const kek = masterKeyFromBytes(crypto.randomBytes(32));
const ctx = { table: 'private_keys', column: 'sealed', rowId: 'row-1' };
const code = (fn: () => unknown): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (err) {
    return (err as { code?: string }).code;
  }
};

test('R4 envelope: seal/unseal round trip, a fresh data key per value', (t) => {
  const secret = Buffer.from('the secret');
  const a = seal(kek, ctx, secret);
  const b = seal(kek, ctx, secret);
  t.false(a.equals(b), 'random DEK and IVs: the same plaintext seals differently');
  t.true(unseal(kek, ctx, a).equals(secret));
  t.false(a.includes(secret));
});

test('R4 envelope: a ciphertext moved to another row, column or table fails with CF_CRYPTO_INTEGRITY', (t) => {
  const blob = seal(kek, ctx, 'x');
  t.is(
    code(() => unseal(kek, { ...ctx, rowId: 'row-2' }, blob)),
    'CF_CRYPTO_INTEGRITY'
  );
  t.is(
    code(() => unseal(kek, { ...ctx, column: 'other' }, blob)),
    'CF_CRYPTO_INTEGRITY'
  );
  t.is(
    code(() => unseal(kek, { ...ctx, table: 'provider_accounts' }, blob)),
    'CF_CRYPTO_INTEGRITY'
  );
});

test('R4 envelope: any flipped byte, truncation or foreign data is rejected', (t) => {
  const blob = seal(kek, ctx, 'some secret value');
  for (let i = 0; i < blob.length; i++) {
    const bad = Buffer.from(blob);
    bad[i] = bad[i]! ^ 0x01;
    t.not(
      code(() => unseal(kek, ctx, bad)),
      undefined,
      `byte ${i}`
    );
  }
  t.is(
    code(() => unseal(kek, ctx, blob.subarray(0, 40))),
    'CF_CRYPTO_INTEGRITY'
  );
  t.is(
    code(() => unseal(kek, ctx, Buffer.from('-----BEGIN PRIVATE KEY-----'))),
    'CF_CRYPTO_INTEGRITY'
  );
});

test('R4 envelope: a value sealed under another master key names both key ids (CF_KEK_MISSING)', (t) => {
  const other = masterKeyFromBytes(crypto.randomBytes(32));
  const blob = seal(other, ctx, 'x');
  t.is(
    code(() => unseal(kek, ctx, blob)),
    'CF_KEK_MISSING'
  );
});
