/**
 * Bounded plain-HTTP requests for PKI material named in certificates (AIA caIssuers, OCSP; SPEC M3, M6).
 *
 * - `http://` only: the material is signed (OCSP responses, certificates) or verified before use, and https would
 *   need a trust decision of its own (RFC 5280 §4.2.2.1, RFC 6960 appendix A.1 use plain HTTP).
 * - One budget (`timeoutMs`) covers connect, redirects and the whole body; the body is cut at `maxBytes` (a
 *   declared Content-Length above it fails before reading).
 * - Redirects are followed at most `maxRedirects` times and only to other `http://` URLs (a redirect to https,
 *   ldap, file… is refused); a POST follows only 307/308, which keep method and body.
 * Failures are {@link HttpFetchError}s whose `unreachable` flag tells "could not talk to the server" (refused,
 * timeout, reset, DNS, HTTP 5xx) from "the server answered something unusable" (4xx, too large).
 */
import http from 'node:http';

/** Why a bounded HTTP request failed. */
export class HttpFetchError extends Error {
  /** True when the server could not be reached or did not answer in time (connection, timeout, HTTP 5xx). */
  readonly unreachable: boolean;
  /** The socket error's code (ECONNREFUSED, ECONNRESET…), when a socket error caused the failure. */
  readonly code?: string;
  constructor(message: string, unreachable: boolean, code?: string) {
    super(message);
    this.name = 'HttpFetchError';
    this.unreachable = unreachable;
    if (code !== undefined) this.code = code;
  }
}

export interface BoundedHttpRequest {
  method?: 'GET' | 'POST';
  body?: Buffer;
  contentType?: string;
  accept?: string;
  timeoutMs: number;
  maxBytes: number;
  /** @default 2; with 0 a redirect fails as `HTTP <status>` */
  maxRedirects?: number;
}

/** What came back: the final URL (after redirects), its content type and the body. */
export interface BoundedHttpResponse {
  url: string;
  contentType: string | undefined;
  body: Buffer;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

function isHttpUrl(url: string): boolean {
  return /^http:\/\//i.test(url);
}

/** What one request gave, before redirect handling. */
interface RawResponse {
  status: number;
  location?: string;
  contentType?: string;
  body: Buffer;
}

/** Performs one request (no redirect handling) with the remaining budget. */
function once(url: string, req: BoundedHttpRequest, deadline: number): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const left = deadline - Date.now();
    if (left <= 0) {
      reject(new HttpFetchError(`timed out after ${req.timeoutMs} ms`, true));
      return;
    }
    let done = false;
    let request: http.ClientRequest | undefined;
    const timer = setTimeout(() => finish(new HttpFetchError(`timed out after ${req.timeoutMs} ms`, true)), left);
    const finish = (err: Error | null, value?: RawResponse): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) {
        request?.destroy();
        reject(err);
      } else resolve(value as RawResponse);
    };
    const method = req.method ?? 'GET';
    const headers: Record<string, string | number> = { connection: 'close' };
    if (req.accept) headers.accept = req.accept;
    if (req.body) {
      headers['content-type'] = req.contentType ?? 'application/octet-stream';
      headers['content-length'] = req.body.length;
    }
    try {
      request = http.request(url, { method, headers, agent: false }, (res) => {
        const status = res.statusCode ?? 0;
        const location = typeof res.headers.location === 'string' ? res.headers.location : undefined;
        const contentType = res.headers['content-type'];
        if (status !== 200) {
          res.resume();
          finish(null, { status, ...(location ? { location } : {}), body: Buffer.alloc(0) });
          return;
        }
        const declared = Number(res.headers['content-length'] ?? NaN);
        if (declared > req.maxBytes) {
          finish(new HttpFetchError(`response too large (${declared} bytes, limit ${req.maxBytes})`, false));
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > req.maxBytes) finish(new HttpFetchError(`response too large (over ${req.maxBytes} bytes)`, false));
          else chunks.push(chunk);
        });
        res.on('end', () =>
          finish(null, { status, ...(contentType ? { contentType } : {}), body: Buffer.concat(chunks) })
        );
        res.on('error', (err: NodeJS.ErrnoException) => finish(new HttpFetchError(err.message, true, err.code)));
      });
    } catch (err) {
      finish(new HttpFetchError(`bad URL ${url}: ${(err as Error).message}`, false));
      return;
    }
    request.on('error', (err: NodeJS.ErrnoException) =>
      finish(new HttpFetchError(err.code ? `${err.code}: ${err.message}` : err.message, true, err.code))
    );
    request.end(req.body);
  });
}

/**
 * Fetches `url` within the bounds of `req` (see the module comment).
 * @throws HttpFetchError
 * @example const { body } = await boundedHttp('http://ca.example/int.der', { timeoutMs: 5000, maxBytes: 131072 })
 */
export async function boundedHttp(url: string, req: BoundedHttpRequest): Promise<BoundedHttpResponse> {
  if (!isHttpUrl(url)) throw new HttpFetchError(`not an http:// URL: ${url}`, false);
  const deadline = Date.now() + req.timeoutMs;
  const maxRedirects = req.maxRedirects ?? 2;
  let current = url;
  for (let hop = 0; hop <= maxRedirects; hop++) {
    const res = await once(current, req, deadline);
    if (res.status === 200) return { url: current, contentType: res.contentType, body: res.body };
    if (REDIRECTS.has(res.status) && res.location !== undefined && maxRedirects > 0) {
      if (req.method === 'POST' && res.status !== 307 && res.status !== 308)
        throw new HttpFetchError(`HTTP ${res.status} redirect of a POST is not followed`, false);
      const next = new URL(res.location, current).toString();
      if (!isHttpUrl(next)) throw new HttpFetchError(`redirect to ${next} refused (only http:// is followed)`, false);
      current = next;
      continue;
    }
    throw new HttpFetchError(`HTTP ${res.status}`, res.status >= 500 || res.status === 0);
  }
  throw new HttpFetchError(`more than ${maxRedirects} redirects`, false);
}
