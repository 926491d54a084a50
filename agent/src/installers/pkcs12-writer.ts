/**
 * A minimal PKCS#12 (RFC 7292) writer for the `java-keystore` installer. Pure (Node crypto, no I/O).
 *
 * Layout, as OpenSSL 3 writes by default (and Java 11.0.12+ `keytool`/`KeyStore.getInstance("PKCS12")` reads):
 * certificates in an encryptedData SafeContents and the key in a pkcs8ShroudedKeyBag, both PBES2 with
 * PBKDF2-HMAC-SHA256 and AES-256-CBC; the MAC is HMAC-SHA-256 keyed by the PKCS#12 KDF. The leaf bag and the
 * key bag carry friendlyName (the keystore alias) and localKeyId (SHA-1 of the leaf DER) so readers pair them.
 * (The controller has its own writer for client certificates; the agent package does not import controller code.)
 */
import {
  X509Certificate,
  createCipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  pbkdf2Sync,
  randomBytes,
} from 'node:crypto';

/**
 * PBKDF2 and MAC iteration count: twice the JDK's own default (10 000). The MAC key derivation is a SHA-256 loop
 * in JS; a long random keystore password (the password file) is what really protects the store.
 */
export const KEYSTORE_ITERATIONS = 20_000;

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

function tlv(tag: number, content: Buffer): Buffer {
  const n = content.length;
  let len: Buffer;
  if (n < 0x80) len = Buffer.from([n]);
  else {
    const bytes: number[] = [];
    for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
    len = Buffer.from([0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([Buffer.from([tag]), len, content]);
}
const seq = (...items: Buffer[]): Buffer => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]): Buffer => tlv(0x31, Buffer.concat([...items].sort(Buffer.compare)));
const octets = (b: Buffer): Buffer => tlv(0x04, b);
const explicit0 = (inner: Buffer): Buffer => tlv(0xa0, inner);
const nul = (): Buffer => Buffer.from([0x05, 0x00]);
function int(value: number): Buffer {
  let hex = value.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  let bytes = Buffer.from(hex, 'hex');
  if ((bytes[0] as number) & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return tlv(0x02, bytes);
}
function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  const out: number[] = [];
  for (const arc of [(arcs[0] as number) * 40 + (arcs[1] as number), ...arcs.slice(2)]) {
    const groups = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) groups.unshift((v & 0x7f) | 0x80);
    out.push(...groups);
  }
  return tlv(0x06, Buffer.from(out));
}
const bmp = (text: string): Buffer => tlv(0x1e, Buffer.from(text, 'utf16le').swap16());

function pbes2(plain: Buffer, password: string, iterations: number): { algorithm: Buffer; ciphertext: Buffer } {
  const salt = randomBytes(16);
  const iv = randomBytes(16);
  const key = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, 32, 'sha256');
  const cipher = createCipheriv('aes-256-cbc', key, iv);
  const ciphertext = Buffer.concat([cipher.update(plain), cipher.final()]);
  key.fill(0);
  const kdf = seq(oid(OID.pbkdf2), seq(octets(salt), int(iterations), seq(oid(OID.hmacWithSha256), nul())));
  const enc = seq(oid(OID.aes256Cbc), octets(iv));
  return { algorithm: seq(oid(OID.pbes2), seq(kdf, enc)), ciphertext };
}

/** RFC 7292 B.2 KDF for the MAC key (ID 3) with SHA-256 (v = 64 bytes, one 32-byte output block). */
function macKey(password: string, salt: Buffer, iterations: number): Buffer {
  const v = 64;
  const pass = Buffer.concat([Buffer.from(password, 'utf16le').swap16(), Buffer.alloc(2)]);
  const fill = (src: Buffer): Buffer => {
    const out = Buffer.alloc(v * Math.ceil(src.length / v));
    for (let k = 0; k < out.length; k += src.length) src.copy(out, k, 0, Math.min(src.length, out.length - k));
    return out;
  };
  let a = createHash('sha256')
    .update(Buffer.concat([Buffer.alloc(v, 3), fill(salt), fill(pass)]))
    .digest();
  for (let n = 1; n < iterations; n++) a = createHash('sha256').update(a).digest();
  return a;
}

function attrs(alias: string | undefined, localKeyId: Buffer | undefined): Buffer[] {
  const list: Buffer[] = [];
  if (alias !== undefined) list.push(seq(oid(OID.friendlyName), set(bmp(alias))));
  if (localKeyId !== undefined) list.push(seq(oid(OID.localKeyId), set(octets(localKeyId))));
  return list.length ? [set(...list)] : [];
}

function certBag(certDer: Buffer, alias?: string, localKeyId?: Buffer): Buffer {
  const value = seq(oid(OID.x509Certificate), explicit0(octets(certDer)));
  return seq(oid(OID.certBag), explicit0(value), ...attrs(alias, localKeyId));
}

export interface WritePkcs12Options {
  /** Leaf first, then its issuers (DER). */
  certificates: Buffer[];
  /** The leaf's private key, PEM (PKCS#8 or traditional). */
  privateKeyPem: Buffer | string;
  password: string;
  /** friendlyName of the key entry (the Java keystore alias). */
  alias: string;
  /** @default {@link KEYSTORE_ITERATIONS} */
  iterations?: number;
}

/**
 * Returns the DER of a password-protected PFX holding one key entry (`alias`) with its certificate chain.
 * @throws Error when the key does not match the leaf certificate
 */
export function writePkcs12(opts: WritePkcs12Options): Buffer {
  const iterations = opts.iterations ?? KEYSTORE_ITERATIONS;
  const [leafDer, ...chain] = opts.certificates;
  if (!leafDer) throw new Error('pkcs12: no certificate');
  const key = createPrivateKey(opts.privateKeyPem);
  if (!new X509Certificate(leafDer).checkPrivateKey(key)) throw new Error('pkcs12: key does not match certificate');
  const pkcs8 = key.export({ type: 'pkcs8', format: 'der' });
  const localKeyId = createHash('sha1').update(leafDer).digest();

  const certContents = seq(certBag(leafDer, opts.alias, localKeyId), ...chain.map((c) => certBag(c)));
  const certEnc = pbes2(certContents, opts.password, iterations);
  const certInfo = seq(
    oid(OID.encryptedData),
    explicit0(seq(int(0), seq(oid(OID.data), certEnc.algorithm, tlv(0x80, certEnc.ciphertext))))
  );
  const keyEnc = pbes2(pkcs8, opts.password, iterations);
  pkcs8.fill(0);
  const keyBag = seq(
    oid(OID.shroudedKeyBag),
    explicit0(seq(keyEnc.algorithm, octets(keyEnc.ciphertext))),
    ...attrs(opts.alias, localKeyId)
  );
  const keyInfo = seq(oid(OID.data), explicit0(octets(seq(keyBag))));
  const authSafe = seq(certInfo, keyInfo);

  const salt = randomBytes(16);
  const mk = macKey(opts.password, salt, iterations);
  const mac = createHmac('sha256', mk).update(authSafe).digest();
  mk.fill(0);
  const macData = seq(seq(seq(oid(OID.sha256), nul()), octets(mac)), octets(salt), int(iterations));
  return seq(int(3), seq(oid(OID.data), explicit0(octets(authSafe))), macData);
}
