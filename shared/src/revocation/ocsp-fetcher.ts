/**
 * OCSP lookups (SPEC M6): the I/O half of OCSP revocation checking. Callers run {@link ocspRevocationStatus}
 * (or `revocationStatus`, which falls back to the CRL) before `evaluateChecks` and put the answer into
 * `CheckContext.revocation`.
 *
 * - The responder URLs come from the leaf's AIA extension (`ocsp` access method); only `http://` is used.
 * - The issuer (for the CertID and to verify the answer) is taken from the served chain, the given candidates
 *   (trust set roots, AIA-fetched intermediates): same Name and its key verifies the leaf.
 * - One POST (`application/ocsp-request`) per URL, bounded by {@link DEFAULT_OCSP_TIMEOUT_MS} and
 *   {@link DEFAULT_OCSP_MAX_BYTES}; redirects only 307/308 to http://. A fresh nonce per request.
 * - Answers are verified (ocsp-response.ts) and cached per (issuer key hash, serial) until nextUpdate, at most
 *   1 h (5 min when the responder gives no nextUpdate); concurrent lookups of one certificate share one request.
 *   Unverifiable answers and transport failures are never cached.
 * Any failure is an answer `unknown` whose message names the URL and the problem, never `good`.
 */
import { X509Certificate } from 'node:crypto';
import { HttpFetchError, boundedHttp } from '../aia/bounded-http';
import { httpAuthorityInfoAccess } from '../aia/authority-info-access';
import type { RevocationInfo } from '../checks/revocation';
import { buildOcspRequest, keyHash, ocspTarget, serialHex, type OcspTarget } from './ocsp-request';
import { OcspError, parseOcspResponse, verifyOcspResponse } from './ocsp-response';
import { issuerCandidates } from './issuer-candidates';
import { TtlCache } from './ttl-cache';

/** Budget of one OCSP request (connect, send, receive). */
export const DEFAULT_OCSP_TIMEOUT_MS = 5_000;
/** Largest OCSP response accepted. */
export const DEFAULT_OCSP_MAX_BYTES = 64 * 1024;
/** Answers kept by a cache. */
export const DEFAULT_OCSP_CACHE_ENTRIES = 4096;
/** Longest an answer is cached (a revocation must not hide behind the cache for days). */
const MAX_CACHE_TTL_MS = 3_600_000;
/** How long an answer without nextUpdate is cached. */
const NO_NEXT_UPDATE_TTL_MS = 300_000;

/** Sends `body` to `url` and returns the response body (test seam). */
export type OcspPost = (url: string, body: Buffer, timeoutMs: number, maxBytes: number) => Promise<Buffer>;

/** POSTs an OCSP request over plain HTTP (see {@link boundedHttp}). */
export const postOcspRequest: OcspPost = async (url, body, timeoutMs, maxBytes) =>
  (
    await boundedHttp(url, {
      method: 'POST',
      body,
      contentType: 'application/ocsp-request',
      accept: 'application/ocsp-response',
      timeoutMs,
      maxBytes,
    })
  ).body;

/** A bounded LRU of verified OCSP answers per (issuer key hash, serial). */
export class OcspCache {
  private readonly cache: TtlCache<RevocationInfo>;
  constructor(readonly maxEntries = DEFAULT_OCSP_CACHE_ENTRIES) {
    this.cache = new TtlCache(maxEntries);
  }

  get size(): number {
    return this.cache.size;
  }

  get(key: string, now: Date): RevocationInfo | undefined {
    return this.cache.get(key, now);
  }

  set(key: string, info: RevocationInfo, nextUpdate: Date | undefined, now: Date): void {
    const cap = now.getTime() + (nextUpdate ? MAX_CACHE_TTL_MS : NO_NEXT_UPDATE_TTL_MS);
    this.cache.set(key, info, Math.min(nextUpdate?.getTime() ?? Infinity, cap), now);
  }

  /** The cached answer, or one lookup shared by concurrent callers. */
  load(key: string, now: Date, lookup: () => Promise<RevocationInfo>): Promise<RevocationInfo> {
    return this.cache.load(key, now, lookup);
  }

  clear(): void {
    this.cache.clear();
  }
}

/** The process-wide cache used when none is given (one per worker thread). */
export const defaultOcspCache = new OcspCache();

export interface OcspCheckOptions {
  now?: Date;
  /** Candidate issuer certificates besides the served chain (trust set roots, AIA-fetched intermediates). */
  issuers?: readonly X509Certificate[];
  timeoutMs?: number;
  maxBytes?: number;
  cache?: OcspCache;
  /** Send a nonce. @default true */
  nonce?: boolean;
  /** Test seam: replaces the HTTP POST. */
  post?: OcspPost;
}

/** The issuer of `leaf` among `candidates`: same Name, and its key verifies the leaf's signature. */
export function findIssuer(leaf: X509Certificate, candidates: readonly X509Certificate[]): X509Certificate | undefined {
  return candidates.find((c) => {
    try {
      return c.subject === leaf.issuer && leaf.verify(c.publicKey);
    } catch {
      return false;
    }
  });
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** True when the failure means the responder could not be reached or could not answer now. */
function unreachable(err: unknown): boolean {
  if (err instanceof HttpFetchError) return err.unreachable;
  if (err instanceof OcspError)
    return (
      err.problem === 'Unsuccessful' && (err.responseStatus === 'tryLater' || err.responseStatus === 'internalError')
    );
  return false;
}

/** One request to one responder, verified. */
async function ask(
  url: string,
  target: OcspTarget,
  issuer: X509Certificate,
  serial: string,
  now: Date,
  opts: OcspCheckOptions
): Promise<{ info: RevocationInfo; nextUpdate?: Date }> {
  const req = buildOcspRequest(target, { nonce: opts.nonce !== false });
  const body = await (opts.post ?? postOcspRequest)(
    url,
    req.der,
    opts.timeoutMs ?? DEFAULT_OCSP_TIMEOUT_MS,
    opts.maxBytes ?? DEFAULT_OCSP_MAX_BYTES
  );
  const answer = verifyOcspResponse(parseOcspResponse(body), {
    target,
    issuer,
    now,
    ...(req.nonce ? { nonce: req.nonce } : {}),
  });
  const signer = answer.signer.kind === 'issuer' ? 'the issuer' : `delegated responder "${answer.signer.subject}"`;
  const where = `OCSP ${url} (signed by ${signer}, thisUpdate ${answer.thisUpdate.toISOString()}${answer.nextUpdate ? `, nextUpdate ${answer.nextUpdate.toISOString()}` : ''})`;
  const times = {
    thisUpdate: answer.thisUpdate.toISOString(),
    ...(answer.nextUpdate ? { nextUpdate: answer.nextUpdate.toISOString() } : {}),
  };
  const next = answer.nextUpdate ? { nextUpdate: answer.nextUpdate } : {};
  switch (answer.status) {
    case 'good':
      return {
        info: { status: 'good', source: 'ocsp', message: `serial ${serial} is good at ${where}`, ...times },
        ...next,
      };
    case 'revoked':
      return {
        info: {
          status: 'revoked',
          source: 'ocsp',
          ...(answer.revokedAt ? { revokedAt: answer.revokedAt.toISOString() } : {}),
          ...(answer.reason ? { reason: answer.reason } : {}),
          message: `serial ${serial} is revoked at ${where}`,
          ...times,
        },
        ...next,
      };
    default:
      return {
        info: {
          status: 'unknown',
          source: 'ocsp',
          cause: 'not-known',
          message: `the responder does not know serial ${serial}: ${where} answered "unknown"`,
          ...times,
        },
        ...next,
      };
  }
}

/**
 * The leaf's revocation status from its OCSP responder(s) (see the module comment). `chain` is as served, leaf
 * first. Returns undefined when the leaf names no http:// OCSP responder (nothing to ask).
 * @example const r = await ocspRevocationStatus(observation.chain, { issuers: trustSet.roots });
 */
export async function ocspRevocationStatus(
  chain: readonly Buffer[],
  opts: OcspCheckOptions = {}
): Promise<RevocationInfo | undefined> {
  const leafDer = chain[0];
  if (!leafDer) return undefined;
  // The URLs first: most leaves a sweep sees name no responder, and decoding the leaf for OpenSSL costs more.
  let urls: string[];
  let leaf: X509Certificate;
  try {
    urls = httpAuthorityInfoAccess(leafDer).ocsp;
    if (urls.length === 0) return undefined;
    leaf = new X509Certificate(leafDer);
  } catch {
    return undefined; // the checks report an undecodable leaf themselves
  }
  const now = opts.now ?? new Date();
  const candidates = issuerCandidates(chain, opts.issuers);
  const issuer = findIssuer(leaf, candidates);
  if (!issuer)
    return {
      status: 'unknown',
      source: 'ocsp',
      cause: 'no-issuer',
      message: `OCSP ${urls.join(', ')}: the leaf's issuer "${leaf.issuer.replace(/\n/g, ', ')}" is neither served, fetched via AIA nor trusted, so no request can be built or answer verified`,
    };
  let target: OcspTarget;
  try {
    target = ocspTarget(leafDer, Buffer.from(issuer.raw));
  } catch (err) {
    return { status: 'unknown', source: 'ocsp', cause: 'invalid', message: `OCSP: ${errorText(err)}` };
  }
  const serial = serialHex(target.serial);
  const cache = opts.cache ?? defaultOcspCache;
  const key = `${keyHash(target.issuerKey).toString('hex')}:${serial}`;
  return cache.load(key, now, async () => {
    const problems: string[] = [];
    let reached = false;
    for (const url of urls) {
      try {
        const { info, nextUpdate } = await ask(url, target, issuer, serial, now, opts);
        cache.set(key, info, nextUpdate, now);
        return info;
      } catch (err) {
        if (!unreachable(err)) reached = true;
        const what = err instanceof OcspError ? `${err.problem}: ${err.message}` : errorText(err);
        problems.push(`OCSP ${url}: ${unreachable(err) ? `unreachable (${what})` : what}`);
      }
    }
    return {
      status: 'unknown' as const,
      source: 'ocsp' as const,
      cause: reached ? ('invalid' as const) : ('unreachable' as const),
      message: problems.join('; '),
    };
  });
}
