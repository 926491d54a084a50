/** Resource limits applied to every import (SPEC I3). They bound memory and CPU for hostile input. */

/** Inputs (and `--key`/`--chain` files) larger than this are rejected before any parsing: 1 MiB. */
export const MAX_INPUT_BYTES = 1024 * 1024;

/**
 * The largest PKCS#12 MAC or password-based-encryption iteration count accepted (also applied to encrypted
 * PKCS#8 keys). It is checked before the key derivation runs.
 */
export const MAX_PKCS12_ITERATIONS = 1_000_000;

/** The most certificates (leaf included) one import may contain. */
export const MAX_CHAIN_CERTIFICATES = 10;

/**
 * Total key-derivation iterations one import may spend, summed over MAC checks and decryptions. A legitimate file
 * needs at most a handful of derivations; this stops a file with many encrypted parts from multiplying the cost.
 */
export const MAX_TOTAL_KDF_ITERATIONS = 6 * MAX_PKCS12_ITERATIONS;

/** Private keys found in one import before giving up without decrypting them. */
export const MAX_PRIVATE_KEYS = 4;

/** A JKS protected key larger than this is rejected (the largest RSA-4096 PKCS#8 key is about 2.5 KiB). */
export const MAX_PROTECTED_KEY_BYTES = 64 * 1024;
