/**
 * internal-ca: a PKCS#12 (RFC 7292) WRITER for client certificates (SPEC C5) and key+certificate bundles.
 * Pure: no I/O. Written with this module's DER writer and Node crypto only (no node-forge, whose writer
 * defaults to a SHA-1 MAC and 3DES/RC2).
 *
 * What it emits is what OpenSSL 3 writes by default, with stronger iteration counts:
 * ```
 * PFX v3
 *  authSafe (data) = AuthenticatedSafe
 *   [1] encryptedData: PBES2(PBKDF2-HMAC-SHA256, AES-256-CBC) over SafeContents { certBag(leaf), certBag(chain)… }
 *   [2] data: SafeContents { pkcs8ShroudedKeyBag: EncryptedPrivateKeyInfo PBES2(PBKDF2-HMAC-SHA256, AES-256-CBC) }
 *  macData: HMAC-SHA-256, key from the PKCS#12 KDF (SHA-256, ID 3) over the AuthenticatedSafe octets
 * ```
 * The leaf certificate bag and the key bag carry friendlyName (BMPString) and localKeyId (SHA-1 of the leaf DER,
 * as OpenSSL sets it) so importers pair them. Passwords: UTF-8 for PBKDF2 (as OpenSSL does for PBES2), UTF-16BE
 * with a terminating NUL for the MAC KDF (RFC 7292 B.1). Opens in `openssl pkcs12` without `-legacy`, in
 * Windows 10+/Firefox/Chrome/macOS keychains, and in our own importer (`parseMaterial`).
 */
import {
  X509Certificate,
  createCipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  hash,
  pbkdf2Sync,
  randomBytes,
} from 'node:crypto';
import { z } from 'zod';
import { CertFleetError, decodePem } from '@certfleet/shared';
import { algorithmIdentifier, der } from './der-writer';
import { parseOrThrow } from './issue-certificate';

const OID = {
  data: '1.2.840.113549.1.7.1',
  encryptedData: '1.2.840.113549.1.7.6',
  pbes2: '1.2.840.113549.1.5.13',
  pbkdf2: '1.2.840.113549.1.5.12',
  hmacWithSha256: '1.2.840.113549.2.9',
  aes256Cbc: '2.16.840.1.101.3.4.1.42',
  sha256: '2.16.840.1.101.3.4.2.1',
  shroudedKeyBag: '1.2.840.113549.1.12.10.1.2',
  certBag: '1.2.840.113549.1.12.10.1.3',
  x509Certificate: '1.2.840.113549.1.9.22.1',
  friendlyName: '1.2.840.113549.1.9.20',
  localKeyId: '1.2.840.113549.1.9.21',
} as const;

/** Default PBKDF2 and MAC iteration count: OWASP's floor for PBKDF2-HMAC-SHA256 is far above OpenSSL's 2048. */
export const PKCS12_DEFAULT_ITERATIONS = 200_000;

export interface CreatePkcs12Options {
  /** The leaf certificate (PEM). */
  certificatePem: string;
  /** Issuer certificates, issuer first: PEM strings or one concatenated PEM. @default [] */
  chainPem?: string[] | string;
  /** The leaf's private key (unencrypted PEM). It must match the certificate. */
  privateKeyPem: string;
  /** 1..1024 characters; protects both the encryption and the MAC. */
  password: string;
  /** Shown by importers (Windows "friendly name", browser certificate lists). @default the leaf's CN or 'certificate' */
  friendlyName?: string;
  /** PBKDF2 and MAC iteration count (1000..1 000 000). @default {@link PKCS12_DEFAULT_ITERATIONS} */
  iterations?: number;
}

const optionsSchema = z.object({
  password: z.string().min(1, 'a password is required').max(1024),
  friendlyName: z.string().min(1).max(200).optional(),
  iterations: z.number().int().min(1000).max(1_000_000).default(PKCS12_DEFAULT_ITERATIONS),
});

/** RFC 7292 B.2 key derivation (here only for the MAC key, ID 3, with SHA-256: v = 64, u = 32). */
function pkcs12MacKey(password: string, salt: Buffer, iterations: number): Buffer {
  const v = 64;
  const pass = Buffer.concat([Buffer.from(password, 'utf16le').swap16(), Buffer.alloc(2)]);
  const repeat = (src: Buffer): Buffer => {
    const out = Buffer.alloc(v * Math.ceil(src.length / v));
    for (let k = 0; k < out.length; k += src.length) src.copy(out, k, 0, Math.min(src.length, out.length - k));
    return out;
  };
  const i = Buffer.concat([repeat(salt), repeat(pass)]);
  let a = hash('sha256', Buffer.concat([Buffer.alloc(v, 3), i]), 'buffer');
  for (let n = 1; n < iterations; n++) a = hash('sha256', a, 'buffer');
  return a; // one 32-byte block is the whole HMAC-SHA-256 key
}

/** `AlgorithmIdentifier` for PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC, and the matching encryption. */
function pbes2Encrypt(plain: Buffer, password: string, iterations: number): { algorithm: Buffer; ciphertext: Buffer } {
  const salt = randomBytes(16);
  const iv = randomBytes(16);
  const key = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, 32, 'sha256');
  const cipher = createCipheriv('aes-256-cbc', key, iv);
  const ciphertext = Buffer.concat([cipher.update(plain), cipher.final()]);
  key.fill(0);
  const kdf = algorithmIdentifier(
    OID.pbkdf2,
    der.sequence(
      der.octetString(salt),
      der.integer(iterations),
      // keyLength is optional and omitted, as OpenSSL 3 does; the PRF is explicit (the default would be HMAC-SHA1).
      algorithmIdentifier(OID.hmacWithSha256, 'null')
    )
  );
  const enc = algorithmIdentifier(OID.aes256Cbc, der.octetString(iv));
  return { algorithm: algorithmIdentifier(OID.pbes2, der.sequence(kdf, enc)), ciphertext };
}

function attributes(friendlyName: string | undefined, localKeyId: Buffer | undefined): Buffer[] {
  const attrs: Buffer[] = [];
  if (friendlyName !== undefined) {
    attrs.push(der.sequence(der.oid(OID.friendlyName), der.setOf(der.bmpString(friendlyName))));
  }
  if (localKeyId !== undefined) {
    attrs.push(der.sequence(der.oid(OID.localKeyId), der.setOf(der.octetString(localKeyId))));
  }
  return attrs.length ? [der.setOf(...attrs)] : [];
}

function certBag(certDer: Buffer, friendlyName?: string, localKeyId?: Buffer): Buffer {
  const value = der.sequence(der.oid(OID.x509Certificate), der.explicit(0, der.octetString(certDer)));
  return der.sequence(der.oid(OID.certBag), der.explicit(0, value), ...attributes(friendlyName, localKeyId));
}

function certificatesOf(pem: string, what: string): Buffer[] {
  let blocks;
  try {
    blocks = decodePem(pem);
  } catch (err) {
    throw new CertFleetError('CF_VALIDATION', `internal-ca(pkcs12): ${what} is not readable PEM`, { cause: err });
  }
  const ders = blocks.filter((b) => b.label === 'CERTIFICATE').map((b) => b.der);
  if (ders.length === 0) throw new CertFleetError('CF_VALIDATION', `internal-ca(pkcs12): ${what} holds no certificate`);
  return ders;
}

/**
 * Writes a password-protected PKCS#12 file holding one private key, its certificate and the chain.
 *
 * @returns the DER bytes of the PFX (`.p12` / `.pfx`)
 * @throws CertFleetError `CF_VALIDATION` on unreadable input, a key that does not match the certificate, or a bad
 *   password/option
 * @example
 * const p12 = createPkcs12({ certificatePem, chainPem: [caPem], privateKeyPem, password, friendlyName: 'alice' });
 */
export function createPkcs12(opts: CreatePkcs12Options): Buffer {
  const input = parseOrThrow(
    optionsSchema,
    { password: opts.password, friendlyName: opts.friendlyName, iterations: opts.iterations },
    'PKCS#12 options'
  );
  const [leafDer, ...extra] = certificatesOf(opts.certificatePem, 'certificatePem');
  if (!leafDer || extra.length) {
    throw new CertFleetError('CF_VALIDATION', 'internal-ca(pkcs12): certificatePem must hold exactly one certificate');
  }
  const chainText = Array.isArray(opts.chainPem) ? opts.chainPem.join('\n') : (opts.chainPem ?? '');
  const chain = chainText.trim() ? certificatesOf(chainText, 'chainPem') : [];
  if (chain.length > 9) throw new CertFleetError('CF_VALIDATION', 'internal-ca(pkcs12): at most 9 chain certificates');

  let leaf: X509Certificate;
  let pkcs8: Buffer;
  try {
    leaf = new X509Certificate(leafDer);
    const key = createPrivateKey(opts.privateKeyPem);
    if (!leaf.checkPrivateKey(key)) throw new Error('mismatch');
    pkcs8 = key.export({ type: 'pkcs8', format: 'der' });
  } catch (err) {
    throw new CertFleetError(
      'CF_VALIDATION',
      'internal-ca(pkcs12): the private key is unreadable or does not match the certificate',
      { cause: err }
    );
  }
  const friendlyName = input.friendlyName ?? /(?:^|\n)CN=([^\n]*)/.exec(leaf.subject)?.[1] ?? 'certificate';
  const localKeyId = createHash('sha1').update(leafDer).digest();

  // The certificates, encrypted (OpenSSL 3 default layout).
  const certContents = der.sequence(certBag(leafDer, friendlyName, localKeyId), ...chain.map((c) => certBag(c)));
  const certEnc = pbes2Encrypt(certContents, input.password, input.iterations);
  const certInfo = der.sequence(
    der.oid(OID.encryptedData),
    der.explicit(
      0,
      der.sequence(
        der.integer(0),
        der.sequence(der.oid(OID.data), certEnc.algorithm, der.implicitPrimitive(0, certEnc.ciphertext))
      )
    )
  );

  // The key, shrouded.
  const keyEnc = pbes2Encrypt(pkcs8, input.password, input.iterations);
  pkcs8.fill(0);
  const keyBag = der.sequence(
    der.oid(OID.shroudedKeyBag),
    der.explicit(0, der.sequence(keyEnc.algorithm, der.octetString(keyEnc.ciphertext))),
    ...attributes(friendlyName, localKeyId)
  );
  const keyInfo = der.sequence(der.oid(OID.data), der.explicit(0, der.octetString(der.sequence(keyBag))));

  const authSafe = der.sequence(certInfo, keyInfo);
  const macSalt = randomBytes(16);
  const macKey = pkcs12MacKey(input.password, macSalt, input.iterations);
  const mac = createHmac('sha256', macKey).update(authSafe).digest();
  macKey.fill(0);
  const macData = der.sequence(
    der.sequence(algorithmIdentifier(OID.sha256, 'null'), der.octetString(mac)),
    der.octetString(macSalt),
    der.integer(input.iterations)
  );
  return der.sequence(
    der.integer(3),
    der.sequence(der.oid(OID.data), der.explicit(0, der.octetString(authSafe))),
    macData
  );
}
