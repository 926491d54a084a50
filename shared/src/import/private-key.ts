/**
 * Private key decoding: PKCS#8, PKCS#1, SEC1, encrypted PKCS#8 and OpenSSL legacy PEM encryption, into a Node
 * `KeyObject` whose algorithm is one of {@link KEY_ALGORITHMS}.
 */
import { type KeyObject, createDecipheriv, createPrivateKey, hash } from 'node:crypto';
import type { CertFleetError } from '../errors';
import { DecodeError, malformed, unsupported } from '../x509/decode-error';
import {
  UniversalTag,
  explicitContent,
  isContext,
  isUniversal,
  parseAsn1,
  readAlgorithmIdentifier,
  readOctetString,
  readOid,
  readSmallInteger,
  sequenceOf,
} from '../x509/der';
import { type KeyAlgorithm, keyAlgorithmOf } from '../x509/key-algorithm';
import { Oid, describeOid } from '../x509/oids';
import { type ImportOrigin, importError } from './import-error';
import { type KdfBudget, type PbeScheme, parsePbeScheme, pbeDecrypt } from './pbe';
import type { EncodedKey } from './raw-material';

/** A decoded private key. */
export interface DecodedPrivateKey {
  readonly key: KeyObject;
  readonly algorithm: KeyAlgorithm;
}

/** A parsed `EncryptedPrivateKeyInfo`, scheme validated (iteration count included), nothing derived yet. */
export interface EncryptedPrivateKeyInfo {
  readonly scheme: PbeScheme;
  readonly ciphertext: Buffer;
}

const SUPPORTED_CURVES: ReadonlySet<string> = new Set([Oid.secp256r1, Oid.secp384r1, Oid.secp521r1]);

/** Parses `EncryptedPrivateKeyInfo ::= SEQUENCE { encryptionAlgorithm, encryptedData OCTET STRING }`. */
export function parseEncryptedPrivateKeyInfo(der: Buffer, origin: ImportOrigin): EncryptedPrivateKeyInfo {
  const parts = sequenceOf(parseAsn1(der), 'EncryptedPrivateKeyInfo');
  if (parts.length !== 2) throw malformed('EncryptedPrivateKeyInfo: expected algorithm and data');
  const scheme = parsePbeScheme(readAlgorithmIdentifier(parts[0], 'EncryptedPrivateKeyInfo.algorithm'), origin);
  return { scheme, ciphertext: readOctetString(parts[1], 'EncryptedPrivateKeyInfo.encryptedData') };
}

/**
 * Decrypts an `EncryptedPrivateKeyInfo` to PKCS#8 DER.
 * @returns null when the password is wrong (bad padding, or a plaintext that is not a PrivateKeyInfo)
 */
export function decryptPrivateKeyInfo(
  info: EncryptedPrivateKeyInfo,
  password: string | null,
  budget: KdfBudget
): Buffer | null {
  const plain = pbeDecrypt(info.scheme, info.ciphertext, password, budget);
  if (plain === null) return null;
  try {
    sequenceOf(parseAsn1(plain), 'PrivateKeyInfo');
  } catch {
    return null; // the padding happened to look right, but the key is garbage: a wrong password
  }
  return plain;
}

/**
 * Decodes one key found in the input.
 * @param password the key password (`undefined` when none was given)
 * @throws CF_IMPORT_PASSWORD_REQUIRED, CF_IMPORT_WRONG_PASSWORD, CF_IMPORT_ITERATIONS_TOO_HIGH; DecodeError
 *   `malformed` / `unsupported`
 */
export function decodePrivateKey(
  encoded: EncodedKey,
  password: string | undefined,
  origin: ImportOrigin,
  budget: KdfBudget
): DecodedPrivateKey {
  switch (encoded.kind) {
    case 'pkcs8':
      return fromDer(encoded.der, 'pkcs8');
    case 'pkcs1':
      return fromDer(encoded.der, 'pkcs1');
    case 'sec1':
      return fromDer(encoded.der, 'sec1');
    case 'encrypted-pkcs8': {
      const info = parseEncryptedPrivateKeyInfo(encoded.der, origin);
      if (password === undefined) throw passwordRequired(origin);
      const plain = decryptPrivateKeyInfo(info, password, budget);
      if (plain === null) throw wrongPassword(origin);
      return fromDer(plain, 'pkcs8');
    }
    case 'legacy-encrypted': {
      const cipher = parseDekInfo(encoded.dekInfo);
      if (password === undefined) throw passwordRequired(origin);
      const plain = legacyDecrypt(cipher, encoded.ciphertext, password);
      if (plain === null) throw wrongPassword(origin);
      try {
        return fromDer(plain, encoded.inner);
      } catch (err) {
        if (err instanceof DecodeError && err.failure === 'malformed') throw wrongPassword(origin);
        throw err;
      }
    }
  }
}

function passwordRequired(origin: ImportOrigin): CertFleetError {
  return importError('CF_IMPORT_PASSWORD_REQUIRED', origin, 'the private key is encrypted; a password is required');
}

function wrongPassword(origin: ImportOrigin): CertFleetError {
  return importError('CF_IMPORT_WRONG_PASSWORD', origin, 'wrong password for the private key (or the key is corrupt)');
}

function fromDer(der: Buffer, type: 'pkcs8' | 'pkcs1' | 'sec1'): DecodedPrivateKey {
  if (type === 'pkcs8') checkPkcs8Algorithm(der);
  if (type === 'sec1') checkSec1Curve(der);
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: der, format: 'der', type });
  } catch (cause) {
    throw malformed(`private key (${type}) rejected by OpenSSL`, cause);
  }
  return { key, algorithm: keyAlgorithmOf(key) };
}

/** Rejects PKCS#8 keys of algorithms CertFleet does not accept before OpenSSL parses them. */
function checkPkcs8Algorithm(der: Buffer): void {
  const parts = sequenceOf(parseAsn1(der), 'PrivateKeyInfo');
  if (parts.length < 3 || parts.length > 5) throw malformed('PrivateKeyInfo: bad structure');
  readSmallInteger(parts[0], 'PrivateKeyInfo.version', 0, 1);
  const { oid, parameters } = readAlgorithmIdentifier(parts[1], 'PrivateKeyInfo.privateKeyAlgorithm');
  readOctetString(parts[2], 'PrivateKeyInfo.privateKey');
  if (oid === Oid.rsaEncryption || oid === Oid.ed25519) return;
  if (oid === Oid.ecPublicKey) {
    if (!isUniversal(parameters, UniversalTag.objectIdentifier))
      throw unsupported('EC keys with explicit curve parameters are not supported');
    const curve = readOid(parameters, 'EC parameters');
    if (!SUPPORTED_CURVES.has(curve))
      throw unsupported(`EC curve ${describeOid(curve)} is not supported (use P-256, P-384 or P-521)`);
    return;
  }
  throw unsupported(`private key algorithm ${describeOid(oid)} is not supported`);
}

/** SEC1 `ECPrivateKey`: rejects unsupported named curves up front. */
function checkSec1Curve(der: Buffer): void {
  const parts = sequenceOf(parseAsn1(der), 'ECPrivateKey');
  readSmallInteger(parts[0], 'ECPrivateKey.version', 1, 1);
  for (const part of parts.slice(2)) {
    if (isContext(part, 0)) {
      const inner = explicitContent(part, 0, 'ECPrivateKey.parameters');
      if (!isUniversal(inner, UniversalTag.objectIdentifier))
        throw unsupported('EC keys with explicit curve parameters are not supported');
      const curve = readOid(inner, 'EC parameters');
      if (!SUPPORTED_CURVES.has(curve))
        throw unsupported(`EC curve ${describeOid(curve)} is not supported (use P-256, P-384 or P-521)`);
    }
  }
}

interface LegacyCipher {
  readonly name: string;
  readonly keyLength: number;
  readonly iv: Buffer;
}

const LEGACY_CIPHERS: Readonly<Record<string, { name: string; keyLength: number; ivLength: number }>> = {
  'AES-128-CBC': { name: 'aes-128-cbc', keyLength: 16, ivLength: 16 },
  'AES-192-CBC': { name: 'aes-192-cbc', keyLength: 24, ivLength: 16 },
  'AES-256-CBC': { name: 'aes-256-cbc', keyLength: 32, ivLength: 16 },
  'DES-EDE3-CBC': { name: 'des-ede3-cbc', keyLength: 24, ivLength: 8 },
};

function parseDekInfo(dekInfo: string): LegacyCipher {
  const match = /^([A-Z0-9-]+),([0-9A-Fa-f]+)$/.exec(dekInfo.trim());
  if (match === null) throw malformed('PEM DEK-Info header is malformed');
  const cipher = LEGACY_CIPHERS[match[1] as string];
  if (cipher === undefined) throw unsupported(`PEM encryption cipher ${match[1] as string} is not supported`);
  const iv = Buffer.from(match[2] as string, 'hex');
  if (iv.length !== cipher.ivLength) throw malformed('PEM DEK-Info IV has the wrong length');
  return { name: cipher.name, keyLength: cipher.keyLength, iv };
}

/** OpenSSL `PEM_do_header`: key = EVP_BytesToKey(MD5, salt = first 8 IV bytes, one iteration). */
function legacyDecrypt(cipher: LegacyCipher, ciphertext: Buffer, password: string): Buffer | null {
  const salt = cipher.iv.subarray(0, 8);
  const pass = Buffer.from(password, 'utf8');
  const parts: Buffer[] = [];
  let previous = Buffer.alloc(0);
  for (let length = 0; length < cipher.keyLength; length += previous.length) {
    previous = hash('md5', Buffer.concat([previous, pass, salt]), 'buffer');
    parts.push(previous);
  }
  const key = Buffer.concat(parts).subarray(0, cipher.keyLength);
  if (ciphertext.length === 0 || ciphertext.length % 8 !== 0) return null;
  try {
    const decipher = createDecipheriv(cipher.name, key, cipher.iv);
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  } catch {
    return null;
  }
}
