/**
 * The X25519 key exchange of the probe's certificate grab (RFC 7748, RFC 8446 §4.2.8.2), with keys given to OpenSSL
 * as JWKs: a JWK is decoded ≈ 8× faster than the same key as DER by OpenSSL 3.0's decoder.
 *
 * The private key is made from 32 random bytes (`createPrivateKey`), not with `generateKeyPairSync('x25519')`: in
 * Node 20, exporting a key that `generateKeyPairSync` made as a JWK can deadlock the thread. `ExportJWKEdKey` holds
 * the key's mutex while it allocates the JWK's strings; when that allocation triggers a garbage collection that
 * finalizes the (already unreferenced) key generation job, the job's destructor takes the same mutex and waits for
 * ever (seen as a monitoring sweep that never finished; gdb: `~KeyGenJob` → `uv_mutex_lock` under `ExportJWKEdKey`).
 * Without a job there is nothing to finalize that shares the key's mutex. `test/unit/shared/probe/x25519.test.ts`
 * runs both ways under heavy garbage collection.
 */
import { type KeyObject, createPrivateKey, createPublicKey, diffieHellman, randomBytes } from 'node:crypto';

/**
 * A JWK needs `x`, but OpenSSL derives the public key from `d` alone (`EVP_PKEY_new_raw_private_key`); this
 * placeholder is never used, and the public key is read back from the private one.
 */
const UNUSED_X = Buffer.alloc(32).toString('base64url');

/** A fresh key pair for one handshake, the public half (32 bytes) as the key share sends it. */
export function x25519KeyShare(): { privateKey: KeyObject; share: Buffer } {
  const privateKey = createPrivateKey({
    key: { kty: 'OKP', crv: 'X25519', d: randomBytes(32).toString('base64url'), x: UNUSED_X },
    format: 'jwk',
  });
  const { x } = createPublicKey(privateKey).export({ format: 'jwk' });
  return { privateKey, share: Buffer.from(x as string, 'base64url') };
}

/**
 * The shared secret with the peer's 32-byte public value.
 * @throws Error when OpenSSL refuses the value or the result (an all-zero secret from a low-order point: a TLS client
 * must abort then, RFC 8446 §7.4.2)
 */
export function x25519SharedSecret(privateKey: KeyObject, peer: Buffer): Buffer {
  const publicKey = createPublicKey({
    key: { kty: 'OKP', crv: 'X25519', x: peer.toString('base64url') },
    format: 'jwk',
  });
  return diffieHellman({ privateKey, publicKey });
}
