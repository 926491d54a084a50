/**
 * Java KeyStores (`.jks`, magic 0xFEEDFEED) through jks-js: private key entries (RSA, EC) with their chains and
 * trusted certificate entries. The key password may differ from the store password. keytool PKCS#12 keystores
 * are standard PKCS#12 and go through `pkcs12.ts`. JCEKS is not supported.
 *
 * jks-js quirks handled here: its reads silently truncate at the end of the buffer (a truncated store parses
 * "fine"), so the layout is walked with bounds checks first; it only checks the store password after parsing
 * and skips the check entirely for an empty password, so the keyed SHA-1 is verified here for every password;
 * its key decryption copies quadratically, so oversized protected keys are refused before decryption.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { decrypt, parseJks } from 'jks-js';
import { malformed, unsupported } from '../x509/decode-error';
import { decodePem } from '../x509/pem';
import { importError } from './import-error';
import { MAX_PRIVATE_KEYS, MAX_PROTECTED_KEY_BYTES } from './limits';
import type { EncodedKey, RawMaterial } from './raw-material';

const ORIGIN = 'jks';
const DIGEST_BYTES = 20;

/** Passwords for a keystore. */
export interface KeystorePasswords {
  readonly password?: string | undefined;
  readonly keyPassword?: string | undefined;
}

/**
 * Extracts the certificates (each key entry's chain in order, then trusted certificates) and the keys.
 * @throws CF_IMPORT_PASSWORD_REQUIRED, CF_IMPORT_WRONG_PASSWORD; DecodeError
 */
export function extractJks(input: Buffer, passwords: KeystorePasswords): RawMaterial {
  const password = passwords.password;
  if (password === undefined) {
    throw importError('CF_IMPORT_PASSWORD_REQUIRED', ORIGIN, 'a keystore password is required');
  }
  checkLayout(input);

  let entries: ReturnType<typeof parseJks>;
  try {
    entries = parseJks(input, ''); // structure only: jks-js skips its integrity check for an empty password
  } catch (cause) {
    throw malformed(`JKS: ${cause instanceof Error ? cause.message : 'unreadable'}`, cause);
  }
  if (!integrityMatches(input, password)) {
    throw importError('CF_IMPORT_WRONG_PASSWORD', ORIGIN, 'wrong keystore password (integrity check failed)');
  }

  const certificates: Buffer[] = [];
  const trusted: Buffer[] = [];
  const keys: EncodedKey[] = [];
  const keyEntries = entries.filter((entry) => 'protectedPrivateKey' in entry);
  if (keyEntries.length > MAX_PRIVATE_KEYS) throw malformed(`JKS: ${keyEntries.length} private key entries`);
  for (const entry of entries) {
    if ('protectedPrivateKey' in entry) {
      certificates.push(...entry.chain.map((cert) => certificateBytes(cert.certType, cert.value)));
      keys.push({ kind: 'pkcs8', der: recoverKey(entry.protectedPrivateKey, passwords.keyPassword ?? password) });
    } else {
      trusted.push(certificateBytes(entry.cert.certType, entry.cert.value));
    }
  }
  return { certificates: [...certificates, ...trusted], keys };
}

/**
 * Walks the JKS layout (magic, version, entries, trailing SHA-1) checking every length against the data, so
 * truncated or padded stores are reported as corrupt rather than as a wrong password.
 */
function checkLayout(input: Buffer): void {
  let pos = 0;
  const take = (n: number, what: string): number => {
    if (n > input.length - DIGEST_BYTES - pos) throw malformed(`JKS: truncated ${what}`);
    const at = pos;
    pos += n;
    return at;
  };
  const u32 = (what: string): number => input.readUInt32BE(take(4, what));
  const utf = (what: string): void => void take(input.readUInt16BE(take(2, what)), what);
  if (u32('header') !== 0xfeedfeed) throw malformed('JKS: bad magic');
  const version = u32('header');
  if (version !== 1 && version !== 2) throw malformed(`JKS: unknown version ${version}`);
  const cert = (): void => {
    if (version === 2) utf('certificate type');
    take(u32('certificate'), 'certificate');
  };
  for (let count = u32('entry count'); count > 0; count--) {
    const tag = u32('entry');
    utf('alias');
    take(8, 'timestamp');
    if (tag === 1) {
      take(u32('private key'), 'private key');
      for (let certs = u32('chain'); certs > 0; certs--) cert();
    } else if (tag === 2) {
      cert();
    } else {
      throw malformed(`JKS: unknown entry tag ${tag}`);
    }
  }
  if (pos !== input.length - DIGEST_BYTES) throw malformed('JKS: unexpected data after the last entry');
}

/** JKS integrity: SHA-1(UTF-16BE(password) ‖ "Mighty Aphrodite" ‖ body) equals the trailing 20 bytes. */
function integrityMatches(input: Buffer, password: string): boolean {
  const body = input.subarray(0, input.length - DIGEST_BYTES);
  const computed = createHash('sha1')
    .update(Buffer.from(password, 'utf16le').swap16())
    .update('Mighty Aphrodite', 'utf8')
    .update(body)
    .digest();
  return timingSafeEqual(computed, input.subarray(input.length - DIGEST_BYTES));
}

function certificateBytes(certType: string, value: Uint8Array): Buffer {
  if (certType !== 'X.509' && certType !== 'X509')
    throw unsupported(`JKS certificate type ${certType} is not supported`);
  return Buffer.from(value);
}

function recoverKey(protectedKey: Uint8Array, keyPassword: string): Buffer {
  if (protectedKey.length > MAX_PROTECTED_KEY_BYTES) throw malformed('JKS: protected key too large');
  let pem: string;
  try {
    pem = decrypt(Buffer.from(protectedKey), keyPassword);
  } catch (cause) {
    const message = cause instanceof Error ? cause.message : '';
    if (message === 'Cannot recover key') {
      throw importError('CF_IMPORT_WRONG_PASSWORD', ORIGIN, 'wrong key password for a private key entry', {
        details: { field: 'keyPassword' },
      });
    }
    if (message.startsWith('Unsupported key protection')) {
      throw unsupported('JKS key protection algorithm is not supported', cause);
    }
    throw malformed('JKS: private key entry cannot be decoded', cause);
  }
  const block = decodePem(pem)[0];
  if (block === undefined || block.label !== 'PRIVATE KEY') throw malformed('JKS: private key entry is not PKCS#8');
  return block.der;
}
