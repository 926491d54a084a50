/**
 * CRL revocation lookups (SPEC M6): the I/O half of revocation checking. The check chain stays pure; callers run
 * {@link crlRevocationStatus} before `evaluateChecks` and put its answer into `CheckContext.revocation`.
 *
 * - The leaf's cRLDistributionPoints are read (fullName URIs); only `http://` URIs are used (RFC 5280 §4.2.1.13:
 *   CRLs are fetched over plain HTTP; they are signed, and https/ldap would need trust decisions of their own).
 * - A fetch is bounded in time ({@link DEFAULT_CRL_TIMEOUT_MS}) and size ({@link DEFAULT_CRL_MAX_BYTES}); no
 *   redirects are followed. DER or PEM bodies are accepted.
 * - The CRL must be issued by the leaf's issuer (same Name, and the issuer certificate's key verifies both the leaf
 *   and the CRL): the issuer comes from the served chain or the trust set. Indirect and delta CRLs are not used.
 * - thisUpdate must not be in the future (5 min skew allowed) and nextUpdate not past; a stale CRL answers unknown.
 * - CRLs are cached per URL until their nextUpdate, at most 1 h, in a bounded LRU ({@link CrlCache}); parallel
 *   lookups of one URL share one fetch.
 * Any failure is an answer `unknown` with the reason in its message, never `good`.
 */
import { X509Certificate, verify as verifySignature } from 'node:crypto';
import { boundedHttp } from '../aia/bounded-http';
import type { RevocationInfo } from '../checks/revocation';
import { readTime } from '../x509/asn1-time';
import {
  type Asn1Node,
  TagClass,
  UniversalTag,
  childrenOf,
  contentOf,
  encodingOf,
  explicitContent,
  isContext,
  isUniversal,
  parseAsn1,
  readAlgorithmIdentifier,
  readBitStringBytes,
  readOctetString,
  readOid,
  sequenceOf,
} from '../x509/der';
import { decodePem } from '../x509/pem';
import { certificateExtensions, tbsFields } from '../x509/tbs';
import { SIGNATURE_DIGESTS, crlReasonName } from './signature-tables';
import { issuerCandidates } from './issuer-candidates';
import { TtlCache } from './ttl-cache';

/** Budget of one CRL download. */
export const DEFAULT_CRL_TIMEOUT_MS = 5_000;
/** Largest CRL accepted. */
export const DEFAULT_CRL_MAX_BYTES = 10 * 1024 * 1024;
/** CRLs kept by a cache. */
export const DEFAULT_CRL_CACHE_ENTRIES = 256;
/**
 * How long a CRL is kept at most (also without nextUpdate): CAs publish new CRLs long before nextUpdate (the built-in
 * CA's are valid 7 days), so a revocation must not hide behind the cache for days.
 */
const MAX_CACHE_TTL_MS = 3_600_000;
/** Clock skew tolerated on thisUpdate. */
const SKEW_MS = 5 * 60_000;

const OID_CRL_DISTRIBUTION_POINTS = '2.5.29.31';
const OID_CRL_REASON = '2.5.29.21';
const OID_DELTA_CRL_INDICATOR = '2.5.29.27';

/** One revoked certificate listed by a CRL. */
export interface CrlEntry {
  /** Lowercase hex without leading zeros. */
  serial: string;
  revokedAt: Date;
  reason?: string;
}

/** A decoded (not yet verified) CRL. */
export interface ParsedCrl {
  der: Buffer;
  /** DER of the issuer Name. */
  issuerName: Buffer;
  thisUpdate: Date;
  nextUpdate?: Date;
  /** Revoked serials (normalized hex) → entry. */
  entries: Map<string, CrlEntry>;
  delta: boolean;
  tbs: Buffer;
  signatureAlgorithm: string;
  signature: Buffer;
}

function normalizeSerial(hex: string): string {
  return hex.toLowerCase().replace(/^0+(?=.)/, '');
}

function extensionsOf(node: Asn1Node | undefined): Array<{ oid: string; value: Buffer }> {
  if (!node) return [];
  return sequenceOf(node, 'extensions').map((ext) => {
    const parts = sequenceOf(ext, 'extension');
    return { oid: readOid(parts[0], 'extnID'), value: readOctetString(parts[parts.length - 1], 'extnValue') };
  });
}

/**
 * Decodes a CRL (DER, or PEM `X509 CRL`). Throws a DecodeError on malformed input.
 */
export function parseCrl(input: Buffer): ParsedCrl {
  let der = input;
  if (input.subarray(0, 64).toString('latin1').includes('-----BEGIN')) {
    const block = decodePem(input.toString('latin1')).find((b) => b.label === 'X509 CRL');
    if (!block) throw new Error('PEM without an X509 CRL block');
    der = block.der;
  }
  const top = sequenceOf(parseAsn1(der), 'CertificateList');
  if (top.length !== 3) throw new Error('CertificateList: expected tbsCertList, signatureAlgorithm, signature');
  const tbsNode = top[0] as Asn1Node;
  const fields = sequenceOf(tbsNode, 'tbsCertList');
  let i = 0;
  if (isUniversal(fields[i], UniversalTag.integer)) i++; // version
  i++; // signature AlgorithmIdentifier
  const issuerName = encodingOf(fields[i++] as Asn1Node);
  const thisUpdate = readTime(fields[i++], 'thisUpdate');
  let nextUpdate: Date | undefined;
  const maybeNext = fields[i];
  if (
    maybeNext &&
    maybeNext.tagClass === TagClass.universal &&
    (maybeNext.tagNumber === UniversalTag.utcTime || maybeNext.tagNumber === UniversalTag.generalizedTime)
  ) {
    nextUpdate = readTime(maybeNext, 'nextUpdate');
    i++;
  }
  const entries = new Map<string, CrlEntry>();
  if (isUniversal(fields[i], UniversalTag.sequence)) {
    for (const entry of sequenceOf(fields[i++], 'revokedCertificates')) {
      const parts = sequenceOf(entry, 'revokedCertificate');
      const serialNode = parts[0];
      if (!isUniversal(serialNode, UniversalTag.integer)) throw new Error('revokedCertificate: bad serial');
      const serial = normalizeSerial(contentOf(serialNode).toString('hex'));
      const e: CrlEntry = { serial, revokedAt: readTime(parts[1], 'revocationDate') };
      for (const ext of extensionsOf(parts[2])) {
        if (ext.oid !== OID_CRL_REASON) continue;
        const code = ext.value[ext.value.length - 1] ?? 0;
        e.reason = crlReasonName(code);
      }
      entries.set(serial, e);
    }
  }
  let delta = false;
  if (isContext(fields[i], 0)) {
    for (const ext of extensionsOf(explicitContent(fields[i], 0, 'crlExtensions')))
      if (ext.oid === OID_DELTA_CRL_INDICATOR) delta = true;
  }
  return {
    der,
    issuerName: Buffer.from(issuerName),
    thisUpdate,
    ...(nextUpdate ? { nextUpdate } : {}),
    entries,
    delta,
    tbs: Buffer.from(encodingOf(tbsNode)),
    signatureAlgorithm: readAlgorithmIdentifier(top[1], 'signatureAlgorithm').oid,
    signature: Buffer.from(readBitStringBytes(top[2], 'signature')),
  };
}

/** The issuer and subject Name DER of a certificate. */
function namesOf(certDer: Buffer): { issuer: Buffer; subject: Buffer } {
  const tbs = tbsFields(certDer);
  return { issuer: encodingOf(tbs.issuer), subject: encodingOf(tbs.subject) };
}

/** The cRLDistributionPoints fullName URIs of a certificate (any scheme), in certificate order. */
export function crlDistributionPoints(certDer: Buffer): string[] {
  const urls: string[] = [];
  for (const ext of certificateExtensions(certDer)) {
    if (ext.oid !== OID_CRL_DISTRIBUTION_POINTS) continue;
    for (const dp of sequenceOf(parseAsn1(ext.value), 'CRLDistributionPoints')) {
      const dpName = sequenceOf(dp, 'DistributionPoint').find((n) => isContext(n, 0));
      if (!dpName?.constructed) continue;
      const fullName = childrenOf(dpName).find((n) => isContext(n, 0));
      if (!fullName?.constructed) continue; // nameRelativeToCRLIssuer is not a URL
      for (const gn of childrenOf(fullName))
        if (isContext(gn, 6) && !gn.constructed) urls.push(contentOf(gn).toString('latin1'));
    }
  }
  return urls;
}

/** The leaf's `http://` CRL distribution points (the only ones fetched). */
export function httpCrlUrls(certDer: Buffer): string[] {
  return crlDistributionPoints(certDer).filter((u) => /^http:\/\//i.test(u));
}

/** True when `issuer`'s key signed the CRL (and its Name is the CRL's issuer). */
export function crlSignedBy(crl: ParsedCrl, issuer: X509Certificate): boolean {
  if (!namesOf(issuer.raw).subject.equals(crl.issuerName)) return false;
  const digest = SIGNATURE_DIGESTS[crl.signatureAlgorithm];
  if (digest === undefined) return false;
  try {
    return verifySignature(digest, crl.tbs, issuer.publicKey, crl.signature);
  } catch {
    return false;
  }
}

/** Downloads `url` (http only, no redirects) within `timeoutMs` and `maxBytes` (see {@link boundedHttp}). */
export async function downloadCrl(url: string, timeoutMs: number, maxBytes: number): Promise<Buffer> {
  return (await boundedHttp(url, { accept: 'application/pkix-crl, */*', timeoutMs, maxBytes, maxRedirects: 0 })).body;
}

/** A bounded LRU of decoded CRLs per URL, each kept until its nextUpdate (at most 1 h). */
export class CrlCache {
  private readonly cache: TtlCache<ParsedCrl>;
  constructor(readonly maxEntries = DEFAULT_CRL_CACHE_ENTRIES) {
    this.cache = new TtlCache(maxEntries);
  }

  get size(): number {
    return this.cache.size;
  }

  get(url: string, now: Date): ParsedCrl | undefined {
    return this.cache.get(url, now);
  }

  set(url: string, crl: ParsedCrl, now: Date): void {
    const until = Math.min(crl.nextUpdate?.getTime() ?? Infinity, now.getTime() + MAX_CACHE_TTL_MS);
    this.cache.set(url, crl, until, now);
  }

  /** The cached CRL, or one download shared by concurrent callers. */
  load(url: string, now: Date, fetcher: () => Promise<Buffer>): Promise<ParsedCrl> {
    return this.cache.load(url, now, () => fetcher().then((body) => parseCrl(body)));
  }

  delete(url: string): void {
    this.cache.delete(url);
  }

  clear(): void {
    this.cache.clear();
  }
}

/** The process-wide cache used when none is given (one per worker thread). */
export const defaultCrlCache = new CrlCache();

export interface CrlCheckOptions {
  now?: Date;
  /** Candidate issuer certificates besides the served chain (e.g. the trust set's roots). */
  issuers?: readonly X509Certificate[];
  timeoutMs?: number;
  maxBytes?: number;
  cache?: CrlCache;
  /** Test seam: replaces the HTTP download. */
  download?: (url: string, timeoutMs: number, maxBytes: number) => Promise<Buffer>;
}

function unknown(message: string, cause: NonNullable<RevocationInfo['cause']>): RevocationInfo {
  return { status: 'unknown', source: 'crl', message, cause };
}

/** True for a download failure that means "the CRL server could not be reached" (not "it sent junk"). */
function isUnreachable(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (
    typeof code === 'string' &&
    /^(?:ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|EPIPE)$/.test(code)
  )
    return true;
  const message = errorText(err);
  return /^timed out after/.test(message) || /^HTTP 5\d\d$/.test(message);
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * The leaf's revocation status from its CRL (see the module comment). `chain` is as served, leaf first.
 * Returns undefined when the leaf names no http:// CRL distribution point (nothing to ask).
 * @example const revocation = await crlRevocationStatus(observation.chain, { issuers: trustSet.roots });
 */
export async function crlRevocationStatus(
  chain: readonly Buffer[],
  opts: CrlCheckOptions = {}
): Promise<RevocationInfo | undefined> {
  const leafDer = chain[0];
  if (!leafDer) return undefined;
  let leaf: X509Certificate;
  let urls: string[];
  let leafIssuerName: Buffer;
  try {
    // The URLs first: most leaves a sweep sees name no http CDP, and decoding the leaf for OpenSSL costs more.
    urls = httpCrlUrls(leafDer);
    if (urls.length === 0) return undefined;
    leaf = new X509Certificate(leafDer);
    leafIssuerName = namesOf(leafDer).issuer;
  } catch {
    return undefined; // the checks report an undecodable leaf themselves
  }
  const now = opts.now ?? new Date();
  const cache = opts.cache ?? defaultCrlCache;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_CRL_TIMEOUT_MS;
  const maxBytes = opts.maxBytes ?? DEFAULT_CRL_MAX_BYTES;
  const download = opts.download ?? downloadCrl;
  const candidates = issuerCandidates(chain, opts.issuers);
  const issuers = candidates.filter((c) => {
    try {
      return c.subject === leaf.issuer && namesOf(c.raw).subject.equals(leafIssuerName) && leaf.verify(c.publicKey);
    } catch {
      return false;
    }
  });
  const serial = normalizeSerial(leaf.serialNumber);
  const problems: string[] = [];
  let reached = false;
  for (const url of urls) {
    let crl: ParsedCrl;
    try {
      crl = await cache.load(url, now, () => download(url, timeoutMs, maxBytes));
    } catch (err) {
      if (!isUnreachable(err)) reached = true;
      problems.push(`${url}: ${errorText(err)}`);
      continue;
    }
    reached = true;
    const verdict = judge(crl, url, issuers, serial, now);
    if (typeof verdict === 'string') {
      problems.push(verdict);
      cache.delete(url); // not trusted: never served from the cache
      continue;
    }
    cache.set(url, crl, now);
    return verdict;
  }
  if (issuers.length === 0 && problems.length === 0) problems.push('issuer certificate not available');
  const cause = !reached ? 'unreachable' : issuers.length === 0 ? 'no-issuer' : 'invalid';
  return unknown(problems.join('; '), cause);
}

function judge(
  crl: ParsedCrl,
  url: string,
  issuers: readonly X509Certificate[],
  serial: string,
  now: Date
): RevocationInfo | string {
  if (crl.delta) return `${url}: a delta CRL is not used`;
  if (issuers.length === 0) return `${url}: the leaf's issuer certificate is neither served nor trusted`;
  if (!issuers.some((c) => crlSignedBy(crl, c)))
    return `${url}: the CRL is not signed by the leaf's issuer (signature or issuer name mismatch)`;
  if (crl.thisUpdate.getTime() > now.getTime() + SKEW_MS)
    return `${url}: the CRL's thisUpdate ${crl.thisUpdate.toISOString()} is in the future`;
  if (crl.nextUpdate && crl.nextUpdate.getTime() < now.getTime())
    return `${url}: the CRL is stale (nextUpdate ${crl.nextUpdate.toISOString()})`;
  const entry = crl.entries.get(serial);
  const published = `CRL ${url} of ${crl.thisUpdate.toISOString()}`;
  const times = {
    thisUpdate: crl.thisUpdate.toISOString(),
    ...(crl.nextUpdate ? { nextUpdate: crl.nextUpdate.toISOString() } : {}),
  };
  if (!entry)
    return { status: 'good', source: 'crl', message: `serial ${serial} not listed in ${published}`, ...times };
  return {
    status: 'revoked',
    source: 'crl',
    ...times,
    revokedAt: entry.revokedAt.toISOString(),
    ...(entry.reason ? { reason: entry.reason } : {}),
    message: `serial ${serial} listed in ${published}`,
  };
}
