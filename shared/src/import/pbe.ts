/**
 * Password-based decryption for PKCS#8 `EncryptedPrivateKeyInfo` and PKCS#12 `EncryptedData`.
 *
 * Supported schemes:
 * - PBES2 (RFC 8018) with PBKDF2 (HMAC-SHA-1/224/256/384/512) and AES-128/192/256-CBC or DES-EDE3-CBC: OpenSSL 3
 *   defaults, `openssl pkcs8 -v2`, keytool (JDK 12+).
 * - PKCS#12 PBE (RFC 7292 appendix C) with 3-key/2-key triple DES or RC2-128/RC2-40: `openssl pkcs12 -legacy`,
 *   older Windows and Java. RC2 runs on node-forge because Node's OpenSSL 3 only has it in the legacy provider.
 * Anything else (scrypt, RC4, PBES1/DES, PBMAC1…) is `CF_IMPORT_UNSUPPORTED_ALGORITHM`.
 *
 * Parsing a scheme checks its iteration count against {@link MAX_PKCS12_ITERATIONS} before any derivation, and
 * every derivation is charged to a {@link KdfBudget}.
 */
import { createDecipheriv, pbkdf2Sync } from 'node:crypto';
import forge from 'node-forge';
import { malformed, unsupported } from '../x509/decode-error';
import {
  type AlgorithmIdentifier,
  UniversalTag,
  isUniversal,
  readAlgorithmIdentifier,
  readInteger,
  readOctetString,
  readOid,
  sequenceOf,
} from '../x509/der';
import { type ImportOrigin, importError } from './import-error';
import { MAX_PKCS12_ITERATIONS, MAX_TOTAL_KDF_ITERATIONS } from './limits';
import { type Pkcs12Hash, pkcs12Kdf, pkcs12PasswordBytes } from './pkcs12-kdf';

/** A decoded PBES2 scheme. */
export interface Pbes2Scheme {
  readonly kind: 'pbes2';
  readonly salt: Buffer;
  readonly iterations: number;
  readonly prf: Pkcs12Hash;
  readonly cipher: string;
  readonly keyLength: number;
  readonly iv: Buffer;
}

/** A decoded PKCS#12 PBE scheme. */
export interface Pkcs12PbeScheme {
  readonly kind: 'pkcs12-pbe';
  readonly salt: Buffer;
  readonly iterations: number;
  readonly cipher: 'des-ede3-cbc' | 'des-ede-cbc' | 'rc2-cbc';
  readonly keyLength: number;
  /** Effective key bits for RC2. */
  readonly rc2Bits: number;
}

/** A password-based encryption scheme, validated but not yet run. */
export type PbeScheme = Pbes2Scheme | Pkcs12PbeScheme;

const PBES2 = '1.2.840.113549.1.5.13';
const PBKDF2 = '1.2.840.113549.1.5.12';
const PRFS: Readonly<Record<string, Pkcs12Hash>> = {
  '1.2.840.113549.2.7': 'sha1',
  '1.2.840.113549.2.8': 'sha224',
  '1.2.840.113549.2.9': 'sha256',
  '1.2.840.113549.2.10': 'sha384',
  '1.2.840.113549.2.11': 'sha512',
};
const PBES2_CIPHERS: Readonly<Record<string, { cipher: string; keyLength: number; ivLength: number }>> = {
  '2.16.840.1.101.3.4.1.2': { cipher: 'aes-128-cbc', keyLength: 16, ivLength: 16 },
  '2.16.840.1.101.3.4.1.22': { cipher: 'aes-192-cbc', keyLength: 24, ivLength: 16 },
  '2.16.840.1.101.3.4.1.42': { cipher: 'aes-256-cbc', keyLength: 32, ivLength: 16 },
  '1.2.840.113549.3.7': { cipher: 'des-ede3-cbc', keyLength: 24, ivLength: 8 },
};
const PKCS12_PBES: Readonly<Record<string, Pick<Pkcs12PbeScheme, 'cipher' | 'keyLength' | 'rc2Bits'>>> = {
  '1.2.840.113549.1.12.1.3': { cipher: 'des-ede3-cbc', keyLength: 24, rc2Bits: 0 },
  '1.2.840.113549.1.12.1.4': { cipher: 'des-ede-cbc', keyLength: 16, rc2Bits: 0 },
  '1.2.840.113549.1.12.1.5': { cipher: 'rc2-cbc', keyLength: 16, rc2Bits: 128 },
  '1.2.840.113549.1.12.1.6': { cipher: 'rc2-cbc', keyLength: 5, rc2Bits: 40 },
};
const SCHEME_NAMES: Readonly<Record<string, string>> = {
  '1.2.840.113549.1.12.1.1': 'pbeWithSHAAnd128BitRC4',
  '1.2.840.113549.1.12.1.2': 'pbeWithSHAAnd40BitRC4',
  '1.2.840.113549.1.5.3': 'pbeWithMD5AndDES-CBC',
  '1.2.840.113549.1.5.10': 'pbeWithSHA1AndDES-CBC',
  '1.3.6.1.4.1.11591.4.11': 'scrypt',
  '1.2.840.113549.1.5.14': 'PBMAC1',
};

/**
 * Tracks the key-derivation work one import has done, so a file with many encrypted parts cannot multiply the
 * per-derivation limit.
 */
export class KdfBudget {
  private remaining: number;

  constructor(
    private readonly origin: ImportOrigin,
    total: number = MAX_TOTAL_KDF_ITERATIONS
  ) {
    this.remaining = total;
  }

  /** Charges `iterations`; throws CF_IMPORT_ITERATIONS_TOO_HIGH when the budget is exhausted. */
  spend(iterations: number): void {
    this.remaining -= iterations;
    if (this.remaining < 0) {
      throw importError('CF_IMPORT_ITERATIONS_TOO_HIGH', this.origin, 'too much key-derivation work in one input', {
        details: { limit: MAX_TOTAL_KDF_ITERATIONS },
      });
    }
  }
}

/**
 * Validates an iteration count read from the input, before it is used.
 * @throws CF_IMPORT_ITERATIONS_TOO_HIGH above {@link MAX_PKCS12_ITERATIONS}; DecodeError `malformed` below 1
 */
export function checkIterations(iterations: bigint, origin: ImportOrigin, what: string): number {
  if (iterations < 1n) throw malformed(`${what}: iteration count must be positive`);
  if (iterations > BigInt(MAX_PKCS12_ITERATIONS)) {
    throw importError(
      'CF_IMPORT_ITERATIONS_TOO_HIGH',
      origin,
      `${what} iteration count exceeds ${MAX_PKCS12_ITERATIONS}`,
      {
        details: { iterations: iterations.toString(), limit: MAX_PKCS12_ITERATIONS },
      }
    );
  }
  return Number(iterations);
}

/**
 * Decodes and validates an encryption AlgorithmIdentifier without running any derivation.
 * @throws DecodeError `unsupported` for unknown schemes; CF_IMPORT_ITERATIONS_TOO_HIGH
 */
export function parsePbeScheme(algorithm: AlgorithmIdentifier, origin: ImportOrigin): PbeScheme {
  const legacy = PKCS12_PBES[algorithm.oid];
  if (legacy !== undefined) {
    const params = sequenceOf(algorithm.parameters, 'PKCS#12 PBE parameters');
    if (params.length !== 2) throw malformed('PKCS#12 PBE parameters: expected salt and iterations');
    const salt = readOctetString(params[0], 'PBE salt');
    const iterations = checkIterations(readInteger(params[1], 'PBE iterations'), origin, 'PBE');
    return { kind: 'pkcs12-pbe', salt, iterations, ...legacy };
  }
  if (algorithm.oid !== PBES2) {
    throw unsupported(`encryption scheme ${SCHEME_NAMES[algorithm.oid] ?? algorithm.oid} is not supported`);
  }
  const params = sequenceOf(algorithm.parameters, 'PBES2 parameters');
  if (params.length !== 2) throw malformed('PBES2 parameters: expected keyDerivationFunc and encryptionScheme');
  const kdf = readAlgorithmIdentifier(params[0], 'PBES2 keyDerivationFunc');
  const enc = readAlgorithmIdentifier(params[1], 'PBES2 encryptionScheme');
  if (kdf.oid !== PBKDF2) throw unsupported(`key derivation ${SCHEME_NAMES[kdf.oid] ?? kdf.oid} is not supported`);
  const cipher = PBES2_CIPHERS[enc.oid];
  if (cipher === undefined) throw unsupported(`cipher ${enc.oid} is not supported`);
  const kdfParams = sequenceOf(kdf.parameters, 'PBKDF2 parameters');
  if (kdfParams.length < 2 || kdfParams.length > 4) throw malformed('PBKDF2 parameters: bad structure');
  const salt = readOctetString(kdfParams[0], 'PBKDF2 salt');
  const iterations = checkIterations(readInteger(kdfParams[1], 'PBKDF2 iterations'), origin, 'PBKDF2');
  let next = 2;
  if (isUniversal(kdfParams[next], UniversalTag.integer)) {
    const keyLength = readInteger(kdfParams[next], 'PBKDF2 keyLength');
    if (keyLength !== BigInt(cipher.keyLength)) throw malformed('PBKDF2 keyLength does not match the cipher');
    next++;
  }
  let prf: Pkcs12Hash = 'sha1';
  if (kdfParams[next] !== undefined) {
    const prfOid = readOid(sequenceOf(kdfParams[next], 'PBKDF2 prf')[0], 'PBKDF2 prf');
    const known = PRFS[prfOid];
    if (known === undefined) throw unsupported(`PBKDF2 PRF ${prfOid} is not supported`);
    prf = known;
    next++;
  }
  if (next !== kdfParams.length) throw malformed('PBKDF2 parameters: unexpected element');
  const iv = readOctetString(enc.parameters, 'PBES2 IV');
  if (iv.length !== cipher.ivLength) throw malformed('PBES2 IV has the wrong length');
  return { kind: 'pbes2', salt, iterations, prf, cipher: cipher.cipher, keyLength: cipher.keyLength, iv };
}

/**
 * Decrypts `ciphertext`. `password` null means "no password" (PKCS#12's NULL password).
 * @returns the plaintext, or null when the padding is wrong (wrong password, or corrupt ciphertext)
 */
export function pbeDecrypt(
  scheme: PbeScheme,
  ciphertext: Buffer,
  password: string | null,
  budget: KdfBudget
): Buffer | null {
  if (scheme.kind === 'pbes2') {
    budget.spend(scheme.iterations);
    const key = pbkdf2Sync(
      Buffer.from(password ?? '', 'utf8'),
      scheme.salt,
      scheme.iterations,
      scheme.keyLength,
      scheme.prf
    );
    return cbcDecrypt(scheme.cipher, key, scheme.iv, ciphertext);
  }
  const passwordBytes = pkcs12PasswordBytes(password);
  budget.spend(2 * scheme.iterations);
  const key = pkcs12Kdf('sha1', passwordBytes, scheme.salt, 1, scheme.iterations, scheme.keyLength);
  const iv = pkcs12Kdf('sha1', passwordBytes, scheme.salt, 2, scheme.iterations, 8);
  if (scheme.cipher === 'rc2-cbc') return rc2CbcDecrypt(key, scheme.rc2Bits, iv, ciphertext);
  return cbcDecrypt(scheme.cipher, key, iv, ciphertext);
}

function cbcDecrypt(cipher: string, key: Buffer, iv: Buffer, ciphertext: Buffer): Buffer | null {
  if (ciphertext.length === 0 || ciphertext.length % iv.length !== 0) return null;
  try {
    const decipher = createDecipheriv(cipher, key, iv);
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  } catch {
    return null; // bad padding
  }
}

function rc2CbcDecrypt(key: Buffer, bits: number, iv: Buffer, ciphertext: Buffer): Buffer | null {
  if (ciphertext.length === 0 || ciphertext.length % 8 !== 0) return null;
  const decipher = forge.rc2.createDecryptionCipher(forge.util.createBuffer(key.toString('binary')), bits);
  decipher.start(forge.util.createBuffer(iv.toString('binary')));
  decipher.update(forge.util.createBuffer(ciphertext.toString('binary')));
  // forge's own unpadding only checks the last byte; keep the padding and check all of it here.
  if (!decipher.finish(() => true)) return null;
  return stripPkcs7Padding(Buffer.from(decipher.output.getBytes(), 'binary'), 8);
}

function stripPkcs7Padding(data: Buffer, blockSize: number): Buffer | null {
  const pad = data[data.length - 1];
  if (pad === undefined || pad < 1 || pad > blockSize || pad > data.length) return null;
  for (let i = data.length - pad; i < data.length; i++) if (data[i] !== pad) return null;
  return data.subarray(0, data.length - pad);
}
