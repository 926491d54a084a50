/**
 * PKCS#12 (`.p12`, `.pfx`) in password-integrity mode, as written by OpenSSL 3 (PBES2/AES-256-CBC, HMAC-SHA-256
 * MAC), `openssl pkcs12 -legacy` (RC2-40 and 3DES, SHA-1 MAC), keytool and Windows. RSA, EC and Ed25519 keys.
 *
 * The whole visible structure (PFX, MacData, AuthenticatedSafe, plain SafeContents, every encryption scheme and
 * its iteration count) is validated before the first key derivation, so a damaged file fails fast and an
 * over-expensive one is refused (CF_IMPORT_ITERATIONS_TOO_HIGH) without running its KDF. Then: MAC check
 * (wrong/missing password) → decrypt the encrypted SafeContents (their nested schemes are validated before
 * being used) → decrypt the shrouded key bag to PKCS#8 for Node's `createPrivateKey`.
 *
 * Passwords: with no password (or an empty one) both encodings OpenSSL tries are attempted, UTF-16 "" and NULL.
 * `keyPassword`, when given, decrypts the key bag; otherwise the file password does.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { malformed, unsupported } from '../x509/decode-error';
import {
  type Asn1Node,
  encodingOf,
  explicitContent,
  isContext,
  octetsOf,
  parseAsn1,
  readAlgorithmIdentifier,
  readInteger,
  readOctetString,
  readOid,
  readSmallInteger,
  sequenceOf,
  setOf,
} from '../x509/der';
import { Oid, describeOid } from '../x509/oids';
import { importError } from './import-error';
import { MAX_PRIVATE_KEYS } from './limits';
import { KdfBudget, type PbeScheme, checkIterations, parsePbeScheme, pbeDecrypt } from './pbe';
import { type Pkcs12Hash, pkcs12Kdf, pkcs12PasswordBytes } from './pkcs12-kdf';
import { type EncryptedPrivateKeyInfo, decryptPrivateKeyInfo, parseEncryptedPrivateKeyInfo } from './private-key';
import type { RawMaterial } from './raw-material';

const ORIGIN = 'pkcs12';
const BAG = {
  key: '1.2.840.113549.1.12.10.1.1',
  shroudedKey: '1.2.840.113549.1.12.10.1.2',
  cert: '1.2.840.113549.1.12.10.1.3',
  crl: '1.2.840.113549.1.12.10.1.4',
  secret: '1.2.840.113549.1.12.10.1.5',
  safeContents: '1.2.840.113549.1.12.10.1.6',
} as const;
const X509_CERTIFICATE = '1.2.840.113549.1.9.22.1';
const MAC_HASHES: Readonly<Record<string, Pkcs12Hash>> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.4': 'sha224',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};
const DIGEST_BYTES: Readonly<Record<Pkcs12Hash, number>> = { sha1: 20, sha224: 28, sha256: 32, sha384: 48, sha512: 64 };
const MAX_NESTED_SAFE_CONTENTS = 3;

/** Passwords for a PKCS#12 file. */
export interface Pkcs12Passwords {
  readonly password?: string | undefined;
  readonly keyPassword?: string | undefined;
}

interface MacData {
  readonly hash: Pkcs12Hash;
  readonly digest: Buffer;
  readonly salt: Buffer;
  readonly iterations: number;
}

interface EncryptedSafe {
  readonly scheme: PbeScheme;
  readonly ciphertext: Buffer;
}

/** Bags collected while walking SafeContents. */
interface BagCollector {
  readonly certificates: Buffer[];
  readonly plainKeys: Buffer[];
  readonly shroudedKeys: EncryptedPrivateKeyInfo[];
}

/**
 * Extracts certificates (cert bag order) and the private key (as PKCS#8 DER) of a PKCS#12 file.
 * @throws CF_IMPORT_PASSWORD_REQUIRED, CF_IMPORT_WRONG_PASSWORD, CF_IMPORT_ITERATIONS_TOO_HIGH; DecodeError
 */
export function extractPkcs12(input: Buffer, passwords: Pkcs12Passwords): RawMaterial {
  const budget = new KdfBudget(ORIGIN);
  const pfx = sequenceOf(parseAsn1(input), 'PFX');
  if (pfx.length < 2 || pfx.length > 3) throw malformed('PFX: expected version, authSafe and optional macData');
  readSmallInteger(pfx[0], 'PFX.version', 3, 3);
  const authSafe = readContentInfo(pfx[1] as Asn1Node, 'authSafe');
  if (authSafe.type === Oid.signedData) throw unsupported('PKCS#12 in public-key integrity mode is not supported');
  if (authSafe.type !== Oid.data) throw malformed(`authSafe: unexpected content type ${describeOid(authSafe.type)}`);
  const authSafeBytes = readOctetString(authSafe.content, 'authSafe.content');
  const mac = pfx[2] === undefined ? undefined : readMacData(pfx[2]);

  const bags: BagCollector = { certificates: [], plainKeys: [], shroudedKeys: [] };
  const encrypted: EncryptedSafe[] = [];
  for (const node of sequenceOf(parseAsn1(authSafeBytes), 'AuthenticatedSafe')) {
    const info = readContentInfo(node, 'AuthenticatedSafe entry');
    if (info.type === Oid.data) {
      collectBags(readOctetString(info.content, 'SafeContents'), bags, 0);
    } else if (info.type === Oid.encryptedData) {
      encrypted.push(readEncryptedData(info.content));
    } else if (info.type === Oid.envelopedData) {
      throw unsupported('PKCS#12 content encrypted to a public key (envelopedData) is not supported');
    } else {
      throw malformed(`AuthenticatedSafe: unexpected content type ${describeOid(info.type)}`);
    }
  }

  // Structure is valid: only now run key derivations.
  const given = passwords.password;
  const candidates: (string | null)[] = given === undefined || given === '' ? ['', null] : [given];
  const password = mac
    ? verifyMac(mac, authSafeBytes, candidates, budget)
    : findDecryptingPassword(encrypted, bags.shroudedKeys, candidates, budget);
  if (password === undefined) {
    throw given === undefined
      ? importError('CF_IMPORT_PASSWORD_REQUIRED', ORIGIN, 'the file is password-protected; a password is required')
      : importError('CF_IMPORT_WRONG_PASSWORD', ORIGIN, 'wrong password (integrity check failed)');
  }

  for (const safe of encrypted) {
    const plain = pbeDecrypt(safe.scheme, safe.ciphertext, password, budget);
    if (plain === null) throw malformed('encrypted SafeContents does not decrypt with the verified password');
    collectBags(plain, bags, 0);
  }

  const keyCount = bags.plainKeys.length + bags.shroudedKeys.length;
  if (keyCount > MAX_PRIVATE_KEYS) throw malformed(`${keyCount} private keys in one file`);
  const keys = bags.plainKeys.map((der) => ({ kind: 'pkcs8' as const, der }));
  const keyPassword = passwords.keyPassword ?? password;
  for (const info of bags.shroudedKeys) {
    const der = decryptPrivateKeyInfo(info, keyPassword, budget);
    if (der === null) {
      throw importError('CF_IMPORT_WRONG_PASSWORD', ORIGIN, 'wrong password for the private key bag');
    }
    keys.push({ kind: 'pkcs8', der });
  }
  return { certificates: bags.certificates, keys };
}

function readContentInfo(node: Asn1Node, what: string): { type: string; content: Asn1Node } {
  const parts = sequenceOf(node, what);
  if (parts.length !== 2) throw malformed(`${what}: expected contentType and content`);
  return { type: readOid(parts[0], `${what}.contentType`), content: explicitContent(parts[1], 0, `${what}.content`) };
}

function readMacData(node: Asn1Node): MacData {
  const parts = sequenceOf(node, 'MacData');
  if (parts.length < 2 || parts.length > 3) throw malformed('MacData: bad structure');
  const digestInfo = sequenceOf(parts[0], 'MacData.mac');
  if (digestInfo.length !== 2) throw malformed('MacData.mac: bad DigestInfo');
  const algorithm = readAlgorithmIdentifier(digestInfo[0], 'MacData.mac.algorithm');
  const hash = MAC_HASHES[algorithm.oid];
  if (hash === undefined) throw unsupported(`PKCS#12 MAC algorithm ${describeOid(algorithm.oid)} is not supported`);
  const digest = readOctetString(digestInfo[1], 'MacData.mac.digest');
  if (digest.length !== DIGEST_BYTES[hash]) throw malformed('MacData.mac.digest has the wrong length');
  const salt = readOctetString(parts[1], 'MacData.macSalt');
  const iterations =
    parts[2] === undefined ? 1 : checkIterations(readInteger(parts[2], 'MacData.iterations'), ORIGIN, 'MAC');
  return { hash, digest, salt, iterations };
}

function readEncryptedData(node: Asn1Node): EncryptedSafe {
  const parts = sequenceOf(node, 'EncryptedData');
  if (parts.length < 2 || parts.length > 3) throw malformed('EncryptedData: bad structure');
  readSmallInteger(parts[0], 'EncryptedData.version', 0, 2);
  const eci = sequenceOf(parts[1], 'EncryptedContentInfo');
  if (eci.length !== 3 || !isContext(eci[2], 0)) throw malformed('EncryptedContentInfo: bad structure');
  if (readOid(eci[0], 'EncryptedContentInfo.contentType') !== Oid.data)
    throw malformed('EncryptedContentInfo: not data');
  const scheme = parsePbeScheme(readAlgorithmIdentifier(eci[1], 'EncryptedContentInfo.algorithm'), ORIGIN);
  return { scheme, ciphertext: octetsOf(eci[2], 'EncryptedContentInfo.encryptedContent') };
}

/** Walks `SafeContents ::= SEQUENCE OF SafeBag`, validating every bag and collecting the useful ones. */
function collectBags(safeContents: Buffer, bags: BagCollector, nesting: number): void {
  for (const bag of sequenceOf(parseAsn1(safeContents), 'SafeContents')) {
    const parts = sequenceOf(bag, 'SafeBag');
    if (parts.length < 2 || parts.length > 3) throw malformed('SafeBag: bad structure');
    const bagId = readOid(parts[0], 'SafeBag.bagId');
    const value = explicitContent(parts[1], 0, 'SafeBag.bagValue');
    if (parts[2] !== undefined) setOf(parts[2], 'SafeBag.bagAttributes');
    switch (bagId) {
      case BAG.key:
        sequenceOf(value, 'keyBag');
        bags.plainKeys.push(encodingOf(value));
        break;
      case BAG.shroudedKey:
        bags.shroudedKeys.push(parseEncryptedPrivateKeyInfo(encodingOf(value), ORIGIN));
        break;
      case BAG.cert: {
        const cert = sequenceOf(value, 'CertBag');
        if (cert.length !== 2) throw malformed('CertBag: bad structure');
        const certId = readOid(cert[0], 'CertBag.certId');
        const certValue = readOctetString(explicitContent(cert[1], 0, 'CertBag.certValue'), 'CertBag.certValue');
        if (certId === X509_CERTIFICATE) bags.certificates.push(certValue); // SDSI certificates are ignored
        break;
      }
      case BAG.safeContents:
        if (nesting >= MAX_NESTED_SAFE_CONTENTS) throw malformed('SafeContents nested too deeply');
        collectBags(encodingOf(value), bags, nesting + 1);
        break;
      default:
        break; // CRL, secret and unknown bags carry nothing CertFleet imports
    }
  }
}

/** @returns the candidate whose MAC matches, or undefined */
function verifyMac(
  mac: MacData,
  authSafe: Buffer,
  candidates: readonly (string | null)[],
  budget: KdfBudget
): string | null | undefined {
  for (const candidate of candidates) {
    budget.spend(mac.iterations);
    const key = pkcs12Kdf(mac.hash, pkcs12PasswordBytes(candidate), mac.salt, 3, mac.iterations, mac.digest.length);
    const computed = createHmac(mac.hash, key).update(authSafe).digest();
    if (computed.length === mac.digest.length && timingSafeEqual(computed, mac.digest)) return candidate;
  }
  return undefined;
}

/** Without a MAC, the password is the candidate that decrypts the first encrypted part. */
function findDecryptingPassword(
  encrypted: readonly EncryptedSafe[],
  shrouded: readonly EncryptedPrivateKeyInfo[],
  candidates: readonly (string | null)[],
  budget: KdfBudget
): string | null | undefined {
  const probe = encrypted[0] ?? shrouded[0];
  if (probe === undefined) return candidates[0];
  return candidates.find((candidate) => pbeDecrypt(probe.scheme, probe.ciphertext, candidate, budget) !== null);
}
