/**
 * `parseMaterial`: every common certificate/key container into one normalized result (SPEC I1, I3).
 *
 * Formats: PEM (certificates, PKCS#8/PKCS#1/SEC1 keys, encrypted PKCS#8, OpenSSL legacy-encrypted keys, PKCS#7
 * blocks), DER certificates or keys, PKCS#7 `.p7b` (PEM or DER), PKCS#12 (OpenSSL 3, OpenSSL `-legacy`, keytool,
 * Windows), JKS. A separate key file and chain file may be added. RSA-2048/3072/4096, EC P-256/384/521, Ed25519.
 *
 * Every failure is a `CertFleetError` with a `CF_IMPORT_*` code; limits ({@link MAX_INPUT_BYTES},
 * {@link MAX_PKCS12_ITERATIONS}, {@link MAX_CHAIN_CERTIFICATES}) are enforced before the work they bound.
 */
import { CertFleetError, isCertFleetError } from '../errors';
import { type ParsedCertificate, parseCertificate, sha256Hex } from '../x509/certificate';
import { type CertificateSummary, summarizeParsedCertificate } from '../x509/certificate-summary';
import type { KeyAlgorithm } from '../x509/key-algorithm';
import { extractDer } from './der';
import { detectFormat } from './detect-format';
import { type ImportOrigin, importError, toImportError } from './import-error';
import { extractJks } from './jks';
import { MAX_CHAIN_CERTIFICATES, MAX_INPUT_BYTES, MAX_PRIVATE_KEYS } from './limits';
import { orderChain } from './order-chain';
import { KdfBudget } from './pbe';
import { extractPem } from './pem';
import { extractPkcs12 } from './pkcs12';
import { extractPkcs7, tooManyCertificates } from './pkcs7';
import { type DecodedPrivateKey, decodePrivateKey } from './private-key';
import type { RawMaterial } from './raw-material';

export { MAX_CHAIN_CERTIFICATES, MAX_INPUT_BYTES, MAX_PKCS12_ITERATIONS } from './limits';
export type { CertificateSummary } from '../x509/certificate-summary';

/** The container an input arrived in. */
export type MaterialFormat = 'pem' | 'pkcs12' | 'der' | 'pkcs7' | 'jks';

/** The private key of an import. */
export interface ParsedPrivateKey {
  /** UNENCRYPTED PKCS#8 PEM, for the caller to encrypt at rest. Never log it. */
  pkcs8Pem: string;
  /** Same vocabulary as `CertificateSummary.keyAlgorithm`. */
  algorithm: KeyAlgorithm;
  /** Whether the key belongs to `certificates[0]`; null when there is no certificate to compare with. */
  matchesCertificate: boolean | null;
}

/** The normalized result of an import. */
export interface ParsedMaterial {
  format: MaterialFormat;
  /** Leaf first, then its issuers in order, then any unrelated certificates. Never empty. */
  certificates: CertificateSummary[];
  privateKey: ParsedPrivateKey | null;
}

/** Options for {@link parseMaterial}. */
export interface ParseMaterialOptions {
  /** File/store password: PKCS#12, JKS store, and encrypted PEM keys when `keyPassword` is absent. */
  password?: string;
  /** Key password when it differs from `password` (JKS key entries, encrypted PEM keys, a PKCS#12 key bag). */
  keyPassword?: string;
  /** A separate private key file (PEM or DER; it may also hold certificates). */
  key?: Buffer;
  /** A separate chain file (PEM, DER or PKCS#7 certificates only). */
  chain?: Buffer;
  /** The input's file name; only used as a hint when the content is unrecognisable. */
  fileName?: string;
}

const FORMAT_NAMES: Readonly<Record<MaterialFormat, string>> = {
  pem: 'PEM',
  der: 'DER',
  pkcs7: 'PKCS#7',
  pkcs12: 'PKCS#12',
  jks: 'a Java KeyStore',
};

const NOTHING: RawMaterial = { certificates: [], keys: [] };

/**
 * Parses certificate/key material in any supported format.
 *
 * The private key is returned decrypted (`pkcs8Pem`) and whether it matches the leaf is reported, not enforced:
 * use {@link assertKeyMatches} to require it.
 *
 * @throws CertFleetError with one of: CF_IMPORT_TOO_LARGE (checked first), CF_IMPORT_UNKNOWN_FORMAT,
 *   CF_IMPORT_CORRUPT (also wraps unexpected library errors, `cause` kept), CF_IMPORT_PASSWORD_REQUIRED,
 *   CF_IMPORT_WRONG_PASSWORD, CF_IMPORT_UNSUPPORTED_ALGORITHM, CF_IMPORT_ITERATIONS_TOO_HIGH,
 *   CF_IMPORT_CHAIN_TOO_LONG, CF_IMPORT_NO_CERTIFICATE. Messages and details never contain a password.
 * @example
 * const parsed = await parseMaterial(await readFile('site.p12'), { password });
 * assertKeyMatches(parsed);
 */
export async function parseMaterial(input: Buffer, options: ParseMaterialOptions = {}): Promise<ParsedMaterial> {
  return parseMaterialNow(input, options);
}

/**
 * Throws CF_IMPORT_KEY_MISMATCH when the material has a private key that does not belong to its leaf certificate.
 * Material without a key passes.
 */
export function assertKeyMatches(parsed: ParsedMaterial): void {
  if (parsed.privateKey?.matchesCertificate !== false) return;
  throw importError('CF_IMPORT_KEY_MISMATCH', parsed.format, 'the private key does not match the leaf certificate', {
    details: { leafSha256: parsed.certificates[0]?.sha256 },
  });
}

/** The import form field a password error belongs to (`details.field` of CF_IMPORT_*PASSWORD* errors). */
type PasswordField = 'password' | 'keyPassword';

/** Runs `work`; a wrong or missing password error from it names `field` in its details (unless it names one). */
function withPasswordField<T>(field: PasswordField, work: () => T): T {
  try {
    return work();
  } catch (err) {
    if (
      isCertFleetError(err) &&
      (err.code === 'CF_IMPORT_WRONG_PASSWORD' || err.code === 'CF_IMPORT_PASSWORD_REQUIRED') &&
      err.details?.field === undefined
    ) {
      throw new CertFleetError(err.code, err.message, { details: { ...err.details, field }, cause: err });
    }
    throw err;
  }
}

function parseMaterialNow(input: Buffer, options: ParseMaterialOptions): ParsedMaterial {
  checkSize(input, null);
  if (options.key !== undefined) checkSize(options.key, 'key');
  if (options.chain !== undefined) checkSize(options.chain, 'chain');
  const secrets = [options.password, options.keyPassword];
  const guard = <T>(origin: ImportOrigin, work: () => T): T => {
    try {
      return work();
    } catch (err) {
      throw toImportError(err, origin, secrets);
    }
  };

  const detected = detectFormat(input, options.fileName);
  const format = detected.format;
  const main = guard(format, () => {
    if (!detected.fromContent)
      throw importError('CF_IMPORT_CORRUPT', format, `the content is not ${FORMAT_NAMES[format]}`);
    return extractMain(format, input, options);
  });
  const keyFile = options.key === undefined ? NOTHING : guard('key', () => extractKeyFile(options.key as Buffer));
  const chain = options.chain === undefined ? NOTHING : guard('chain', () => extractChain(options.chain as Buffer));

  const sources = [
    ...main.certificates.map((der) => ({ der, origin: format as ImportOrigin })),
    ...keyFile.certificates.map((der) => ({ der, origin: 'key' as const })),
    ...chain.certificates.map((der) => ({ der, origin: 'chain' as const })),
  ];
  const unique = [...new Map(sources.map((source) => [sha256Hex(source.der), source])).values()];
  if (unique.length > MAX_CHAIN_CERTIFICATES) throw tooManyCertificates(format, unique.length);
  if (unique.length === 0) throw importError('CF_IMPORT_NO_CERTIFICATE', format, 'the input contains no certificate');
  const certificates: ParsedCertificate[] = unique.map(({ der, origin }) => guard(origin, () => parseCertificate(der)));

  const encodedKeys = [
    ...main.keys.map((key) => ({ key, origin: format as ImportOrigin })),
    ...keyFile.keys.map((key) => ({ key, origin: 'key' as const })),
  ];
  if (encodedKeys.length > MAX_PRIVATE_KEYS) {
    throw importError('CF_IMPORT_CORRUPT', format, `${encodedKeys.length} private keys found; expected one`);
  }
  const keyPassword = options.keyPassword ?? options.password;
  const budget = new KdfBudget(format);
  // Which password a failed key decryption is about: a separate key file, or a key password that was given, is the
  // key password's business; otherwise the file password was used for the key too.
  const passwordField = (origin: ImportOrigin): PasswordField =>
    origin === 'key' || options.keyPassword !== undefined ? 'keyPassword' : 'password';
  const keys = distinctKeys(
    encodedKeys.map(({ key, origin }) =>
      guard(origin, () =>
        withPasswordField(passwordField(origin), () => decodePrivateKey(key, keyPassword, origin, budget))
      )
    )
  );
  if (keys.length > 1) {
    throw importError(
      'CF_IMPORT_CORRUPT',
      format,
      `${keys.length} different private keys found; import one key at a time`,
      {
        details: { reason: 'multiple-private-keys', count: keys.length },
      }
    );
  }
  const key = keys[0];
  const ordered = orderChain(certificates, key?.key);
  return {
    format,
    certificates: ordered.certificates.map(summarizeParsedCertificate),
    privateKey:
      key === undefined
        ? null
        : {
            pkcs8Pem: key.key.export({ type: 'pkcs8', format: 'pem' }).toString(),
            algorithm: key.algorithm,
            matchesCertificate: ordered.keyMatchesLeaf,
          },
  };
}

function checkSize(buffer: Buffer, origin: ImportOrigin | null): void {
  if (buffer.length <= MAX_INPUT_BYTES) return;
  throw importError(
    'CF_IMPORT_TOO_LARGE',
    origin,
    `input is ${buffer.length} bytes; the limit is ${MAX_INPUT_BYTES} (1 MiB)`,
    {
      details: { size: buffer.length, limit: MAX_INPUT_BYTES },
    }
  );
}

function extractMain(format: MaterialFormat, input: Buffer, options: ParseMaterialOptions): RawMaterial {
  switch (format) {
    case 'pem':
      return extractPem(input);
    case 'der':
      return extractDer(input);
    case 'pkcs7':
      return extractPkcs7(input);
    case 'pkcs12':
      return extractPkcs12(input, options);
    case 'jks':
      return extractJks(input, options);
  }
}

function extractKeyFile(input: Buffer): RawMaterial {
  const { format } = detectFormat(input, undefined, 'key');
  if (format === 'pem') return extractPem(input, 'key');
  if (format === 'der') return extractDer(input);
  throw importError(
    'CF_IMPORT_UNKNOWN_FORMAT',
    'key',
    `expected a PEM or DER private key, got ${FORMAT_NAMES[format]}`
  );
}

function extractChain(input: Buffer): RawMaterial {
  const { format } = detectFormat(input, undefined, 'chain');
  let material: RawMaterial;
  if (format === 'pem') material = extractPem(input, 'chain');
  else if (format === 'der') material = extractDer(input);
  else if (format === 'pkcs7') material = extractPkcs7(input, 'chain');
  else
    throw importError(
      'CF_IMPORT_UNKNOWN_FORMAT',
      'chain',
      `expected PEM, DER or PKCS#7 certificates, got ${FORMAT_NAMES[format]}`
    );
  if (material.keys.length > 0) {
    throw importError(
      'CF_IMPORT_CORRUPT',
      'chain',
      'the chain file contains a private key; pass it as the key file instead'
    );
  }
  return material;
}

/** Keys found more than once (the same key in the input and the key file) count once. */
function distinctKeys(keys: readonly DecodedPrivateKey[]): DecodedPrivateKey[] {
  const seen = new Map<string, DecodedPrivateKey>();
  for (const key of keys) {
    const der = key.key.export({ type: 'pkcs8', format: 'der' });
    seen.set(der.toString('base64'), key);
  }
  return [...seen.values()];
}
