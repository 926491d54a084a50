/**
 * AIA chain completion (SPEC M2, M3): when a server does not send the intermediate needed to build a path, fetch
 * it from the `caIssuers` URL of the certificate whose issuer is missing (the leaf first, then each fetched
 * intermediate), so the checks can tell "incomplete chain served" (completable) from "untrusted". The checks
 * stay pure: {@link completeChainViaAia} runs before them and its {@link AiaEvidence} goes into
 * `CheckContext.aia`; `IntermediatesServed` still fails (the server is misconfigured), with a reason that says so.
 *
 * - Cheap when nothing is missing: issuers are looked up by Name among the served certificates and the trust set
 *   (no signature work, decoded certificates are memoized); only a missing Name triggers a fetch.
 * - `http://` caIssuers URLs only; bodies are one DER certificate, a PKCS#7 certs-only bundle (`.p7c`, DER), or
 *   PEM of either. Bounded: {@link DEFAULT_AIA_TIMEOUT_MS} and {@link DEFAULT_AIA_MAX_BYTES} per URL, at most
 *   {@link DEFAULT_AIA_MAX_DEPTH} certificates fetched per chain, redirects only to http://.
 * - A fetched certificate is kept only when its Name is the missing issuer's and its key verifies the certificate
 *   below it; the checks validate the completed path against the trust set as usual.
 * - Per-URL cache ({@link AiaCache}): certificates for 1 h, failures for 1 min; concurrent lookups of one URL share
 *   one download.
 */
import { X509Certificate } from 'node:crypto';
import { certificateFacts, type CertificateFacts } from '../checks/certificate-facts';
import type { AiaAttempt, AiaEvidence } from '../checks/types';
import { pkcs7Certificates } from '../import/pkcs7';
import type { TrustSet } from '../trust/trust-set';
import { UniversalTag, isUniversal, parseAsn1, sequenceOf } from '../x509/der';
import { decodePem } from '../x509/pem';
import { httpAuthorityInfoAccess } from './authority-info-access';
import { HttpFetchError, boundedHttp } from './bounded-http';

/** Budget of one caIssuers download. */
export const DEFAULT_AIA_TIMEOUT_MS = 5_000;
/** Largest caIssuers body accepted (a certificate is 1–2 KiB; a p7c bundle a few). */
export const DEFAULT_AIA_MAX_BYTES = 128 * 1024;
/** Most certificates fetched to complete one chain. */
export const DEFAULT_AIA_MAX_DEPTH = 3;
/** URLs kept by a cache. */
export const DEFAULT_AIA_CACHE_ENTRIES = 512;
const CACHE_TTL_MS = 3_600_000;
const FAILURE_TTL_MS = 60_000;
/** Certificates accepted from one caIssuers body. */
const MAX_CERTIFICATES_PER_URL = 10;
/** Links followed by Name while looking for the missing issuer (a served chain longer than this is absurd). */
const MAX_WALK = 12;

/**
 * The certificates of a caIssuers body: one DER certificate, a DER PKCS#7 SignedData (certs-only), or PEM
 * `CERTIFICATE` / `PKCS7` blocks.
 * @throws Error naming what was found when the body holds no certificate
 */
export function caIssuersCertificates(body: Buffer): Buffer[] {
  let certs: Buffer[] = [];
  if (body[0] === 0x30) {
    const top = sequenceOf(parseAsn1(body), 'caIssuers body');
    // ContentInfo starts with its contentType OID; a Certificate with its tbsCertificate SEQUENCE
    certs = isUniversal(top[0], UniversalTag.objectIdentifier) ? pkcs7Certificates(body, 'pkcs7') : [body];
  } else {
    const text = body.toString('latin1');
    if (!text.includes('-----BEGIN')) throw new Error('neither DER nor PEM');
    for (const block of decodePem(text)) {
      if (block.label === 'CERTIFICATE') certs.push(block.der);
      else if (block.label === 'PKCS7' || block.label === 'CMS') certs.push(...pkcs7Certificates(block.der, 'pkcs7'));
    }
  }
  if (certs.length === 0) throw new Error('no certificate in the caIssuers response');
  if (certs.length > MAX_CERTIFICATES_PER_URL)
    throw new Error(`${certs.length} certificates in the caIssuers response (limit ${MAX_CERTIFICATES_PER_URL})`);
  for (const der of certs) {
    try {
      new X509Certificate(der);
    } catch (err) {
      throw new Error(`the caIssuers response holds something that is not a certificate (${(err as Error).message})`);
    }
  }
  return certs.map((c) => Buffer.from(c));
}

/** Downloads a caIssuers URL (test seam type). */
export type AiaDownload = (url: string, timeoutMs: number, maxBytes: number) => Promise<Buffer>;

/** GET over plain HTTP within the bounds. */
export const downloadCaIssuers: AiaDownload = async (url, timeoutMs, maxBytes) =>
  (
    await boundedHttp(url, {
      timeoutMs,
      maxBytes,
      accept: 'application/pkix-cert, application/pkcs7-mime, */*',
    })
  ).body;

type CacheEntry = { certs: Buffer[]; until: number } | { error: string; unreachable: boolean; until: number };

/** Per-URL cache of caIssuers downloads (bounded LRU). */
export class AiaCache {
  private readonly entries = new Map<string, CacheEntry>();
  private readonly inflight = new Map<string, Promise<Buffer[]>>();
  constructor(readonly maxEntries = DEFAULT_AIA_CACHE_ENTRIES) {}

  get size(): number {
    return this.entries.size;
  }

  /** The certificates at `url`, from the cache or one download shared by concurrent callers. */
  async load(url: string, now: Date, fetcher: () => Promise<Buffer>): Promise<Buffer[]> {
    const hit = this.entries.get(url);
    if (hit && hit.until > now.getTime()) {
      this.entries.delete(url);
      this.entries.set(url, hit);
      if ('certs' in hit) return hit.certs;
      throw new HttpFetchError(`${hit.error} (cached failure)`, hit.unreachable);
    }
    let p = this.inflight.get(url);
    if (!p) {
      p = fetcher()
        .then((body) => caIssuersCertificates(body))
        .then(
          (certs) => {
            this.put(url, { certs, until: now.getTime() + CACHE_TTL_MS });
            return certs;
          },
          (err: unknown) => {
            const message = err instanceof Error ? err.message : String(err);
            const unreachable = err instanceof HttpFetchError && err.unreachable;
            this.put(url, { error: message, unreachable, until: now.getTime() + FAILURE_TTL_MS });
            throw err instanceof HttpFetchError ? err : new HttpFetchError(message, false);
          }
        )
        .finally(() => this.inflight.delete(url));
      this.inflight.set(url, p);
    }
    return p;
  }

  private put(url: string, entry: CacheEntry): void {
    this.entries.delete(url);
    this.entries.set(url, entry);
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
  }

  clear(): void {
    this.entries.clear();
  }
}

/** The process-wide cache used when none is given (one per worker thread). */
export const defaultAiaCache = new AiaCache();

export interface AiaOptions {
  /** The trust set path validation will use: an issuer found there by Name needs no fetch. */
  trustSet?: TrustSet;
  now?: Date;
  timeoutMs?: number;
  maxBytes?: number;
  /** @default 3 */
  maxDepth?: number;
  cache?: AiaCache;
  /** Test seam: replaces the HTTP download. */
  download?: AiaDownload;
}

function decode(der: Buffer): CertificateFacts | undefined {
  try {
    return certificateFacts(der);
  } catch {
    return undefined;
  }
}

function signedBy(child: CertificateFacts, issuer: CertificateFacts): boolean {
  try {
    return child.issuer === issuer.subject && child.x509.verify(issuer.x509.publicKey);
  } catch {
    return false;
  }
}

/**
 * Completes a served chain (leaf first) from AIA caIssuers URLs where an issuer is missing (see the module
 * comment). Returns undefined when nothing is missing (or the leaf does not decode); otherwise the fetched
 * certificates (possibly none) and every attempt, with the reason of each failure. Never throws.
 * @example const aia = await completeChainViaAia(observation.chain, { trustSet });
 */
export async function completeChainViaAia(
  chain: readonly Buffer[],
  opts: AiaOptions = {}
): Promise<AiaEvidence | undefined> {
  const leafDer = chain[0];
  const leaf = leafDer ? decode(leafDer) : undefined;
  if (!leaf) return undefined;
  const served = chain.slice(1).flatMap((der) => decode(der) ?? []);
  const trust = opts.trustSet;
  const now = opts.now ?? new Date();
  const maxDepth = Math.max(0, Math.min(opts.maxDepth ?? DEFAULT_AIA_MAX_DEPTH, 10));
  const cache = opts.cache ?? defaultAiaCache;
  const download = opts.download ?? downloadCaIssuers;
  const fetched: CertificateFacts[] = [];
  const attempts: AiaAttempt[] = [];
  const seen = new Set<string>([leaf.sha256]);
  let cur = leaf;
  for (let step = 0; step < MAX_WALK; step++) {
    if (cur.selfSigned) break;
    if (trust?.bySubject.has(cur.issuer)) break;
    const from = cur;
    const next = [...served, ...fetched].find((c) => !seen.has(c.sha256) && c.subject === from.issuer);
    if (next) {
      seen.add(next.sha256);
      cur = next;
      continue;
    }
    // the issuer of `cur` is missing
    if (fetched.length >= maxDepth) {
      attempts.push({ for: cur.subject, error: `not fetched: AIA depth limit of ${maxDepth} certificate(s) reached` });
      break;
    }
    const urls = httpAuthorityInfoAccess(cur.der).caIssuers;
    if (urls.length === 0) {
      attempts.push({ for: cur.subject, error: 'names no http:// AIA caIssuers URL' });
      break;
    }
    let found: CertificateFacts | undefined;
    for (const url of urls) {
      try {
        const certs = await cache.load(url, now, () =>
          download(url, opts.timeoutMs ?? DEFAULT_AIA_TIMEOUT_MS, opts.maxBytes ?? DEFAULT_AIA_MAX_BYTES)
        );
        const decoded = certs.flatMap((der) => decode(der) ?? []);
        found = decoded.find((c) => !seen.has(c.sha256) && signedBy(from, c));
        if (found) {
          attempts.push({ for: from.subject, url });
          break;
        }
        attempts.push({
          for: from.subject,
          url,
          error: `none of the ${certs.length} certificate(s) there (${decoded.map((c) => `"${c.subject}"`).join(', ')}) issued it`,
        });
      } catch (err) {
        const unreachable = err instanceof HttpFetchError && err.unreachable;
        attempts.push({
          for: from.subject,
          url,
          error: `${unreachable ? 'unreachable: ' : ''}${err instanceof Error ? err.message : String(err)}`,
          ...(unreachable ? { unreachable } : {}),
        });
      }
    }
    if (!found) break;
    fetched.push(found);
    seen.add(found.sha256);
    cur = found;
  }
  if (attempts.length === 0) return undefined;
  return { certificates: fetched.map((c) => c.der), attempts };
}
