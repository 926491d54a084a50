/**
 * The HTTP layer under acme-client 5.4.0, made per call instead of process-wide (SPEC A2).
 *
 * acme-client sends every request through one shared axios instance with process-wide retry settings. Its retry
 * interceptor sleeps 5 s, 10 s, … up to 75 s in total on a network error or a 429/5xx, cannot be aborted, replays a
 * signed POST with an already used nonce, and — once it gives up on a network error — replaces the error with a
 * `TypeError` (it reads `response.status` of `undefined`). So {@link installTransport} wraps the `request` method
 * of one client's own HttpClient:
 * - every request gets this call's `https.Agent` (extra trust from `caBundlePem`), the caller's AbortSignal, a
 *   timeout, no redirects, a response size bound, and `retryAttempt` preset so that the shared interceptor never
 *   retries (badNonce retries, which acme-client does itself with a fresh nonce, still happen);
 * - the axios http adapter is wrapped so the real network error (ECONNREFUSED, ENOTFOUND, TLS verification, timeout)
 *   is kept before the interceptor loses it;
 * - the last ACME problem document (RFC 8555 §6.7) and the last Retry-After are recorded, so errors thrown by
 *   acme-client as plain `Error(detail)` can be classified by their problem type.
 * Retrying is left to the caller: every failure becomes a CertFleetError whose `retryable` says whether trying later
 * can help, with `details.retryAfter` when the CA named a time (rate limits, 503).
 */
import type https from 'node:https';
import { createRequire } from 'node:module';
import type * as acme from 'acme-client';
import { CertFleetError, type ErrorCode } from '@certfleet/shared';

/** Per-request timeout. */
export const ACME_REQUEST_TIMEOUT_MS = 30_000;
/** Bound on any response body (directory, order, certificate chain). */
const MAX_RESPONSE_BYTES = 1024 * 1024;

const ACME_ERROR_PREFIX = 'urn:ietf:params:acme:error:';

/** An ACME problem document as received (RFC 8555 §6.7). */
export interface AcmeProblem {
  status: number;
  /** The type without `urn:ietf:params:acme:error:` (e.g. `rateLimited`), or the full type when not an ACME one. */
  type: string;
  detail: string;
  url: string;
  method: string;
  subproblems?: Array<{ type: string; detail: string; identifier?: unknown }>;
  retryAfterMs?: number;
}

interface AxiosLikeResponse {
  status: number;
  headers: Record<string, unknown>;
  data: unknown;
}
type RequestFn = (url: string, method: string, opts?: Record<string, unknown>) => Promise<AxiosLikeResponse>;
type Adapter = (config: unknown) => Promise<unknown>;

/** The node http adapter of the axios copy that acme-client itself uses (not a second axios). */
const httpAdapter: Adapter = (
  createRequire(require.resolve('acme-client'))('axios') as { getAdapter(name: string): Adapter }
).getAdapter('http');

/** A network-level failure (no HTTP response). */
export class AcmeNetworkError extends Error {
  constructor(
    readonly url: string,
    readonly method: string,
    readonly errorCode: string | undefined,
    message: string,
    options?: { cause?: unknown }
  ) {
    super(message, options);
    this.name = 'AcmeNetworkError';
  }
}

/** Parses Retry-After (delta seconds or HTTP date) into milliseconds from `now`; undefined when absent/past. */
export function parseRetryAfter(header: unknown, now: number = Date.now()): number | undefined {
  if (typeof header !== 'string' || header.trim() === '') return undefined;
  const value = header.trim();
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const at = Date.parse(value);
  if (Number.isNaN(at)) return undefined;
  return at > now ? at - now : undefined;
}

/** The state one ACME call shares with its client's transport. */
export interface AcmeTransport {
  /** Problem document of the most recent request, when it failed (cleared at the start of each request). */
  readonly lastProblem: AcmeProblem | undefined;
  /** Retry-After of the most recent response (any status), in ms. */
  readonly lastRetryAfterMs: number | undefined;
  /** Number of HTTP requests made (for logs and tests). */
  readonly requests: number;
}

function errorCodeOf(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; e && depth < 4; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code !== 'ERR_BAD_REQUEST' && code !== 'ERR_BAD_RESPONSE') return code;
    const errors = (e as { errors?: unknown }).errors; // AggregateError from happy-eyeballs connects
    if (Array.isArray(errors) && errors.length > 0) e = errors[0];
    else e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

function messageOf(err: unknown): string {
  if (err instanceof Error) {
    if (err.message) return err.message;
    const errors = (err as { errors?: unknown }).errors;
    if (Array.isArray(errors) && errors[0] instanceof Error) return errors[0].message;
  }
  return String(err);
}

function problemOf(resp: AxiosLikeResponse, url: string, method: string): AcmeProblem | undefined {
  if (resp.status < 400) return undefined;
  const data = resp.data as { type?: unknown; detail?: unknown; subproblems?: unknown } | string | null | undefined;
  const obj = typeof data === 'object' && data !== null ? data : undefined;
  const rawType = typeof obj?.type === 'string' ? obj.type : '';
  const retryAfterMs = parseRetryAfter(resp.headers['retry-after']);
  const problem: AcmeProblem = {
    status: resp.status,
    type: rawType.startsWith(ACME_ERROR_PREFIX) ? rawType.slice(ACME_ERROR_PREFIX.length) : rawType,
    detail:
      typeof obj?.detail === 'string'
        ? obj.detail.slice(0, 1000)
        : typeof data === 'string'
          ? data.slice(0, 200)
          : `HTTP ${resp.status}`,
    url,
    method: method.toUpperCase(),
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
  };
  if (Array.isArray(obj?.subproblems)) {
    problem.subproblems = (obj.subproblems as Array<Record<string, unknown>>).slice(0, 20).map((s) => ({
      type: String(s.type ?? '').replace(ACME_ERROR_PREFIX, ''),
      detail: String(s.detail ?? '').slice(0, 500),
      ...(s.identifier !== undefined ? { identifier: s.identifier } : {}),
    }));
  }
  return problem;
}

/**
 * Replaces `client.http.request` with the per-call transport described in the module comment.
 * Relies on acme-client 5.4.0 internals (`client.http` is its HttpClient; `request(url, method, opts)` passes
 * `opts` to axios), pinned in package.json.
 */
export function installTransport(client: acme.Client, agent: https.Agent, signal: AbortSignal): AcmeTransport {
  const http = (client as unknown as { http?: { request?: RequestFn } }).http;
  if (!http || typeof http.request !== 'function') {
    throw new CertFleetError('CF_INTERNAL', 'acme: unexpected acme-client internals (no http.request); check the pin');
  }
  const original = http.request.bind(http);
  const state: { lastProblem: AcmeProblem | undefined; lastRetryAfterMs: number | undefined; requests: number } = {
    lastProblem: undefined,
    lastRetryAfterMs: undefined,
    requests: 0,
  };
  http.request = async (url, method, opts = {}) => {
    signal.throwIfAborted();
    state.lastProblem = undefined;
    state.requests++;
    let networkError: unknown;
    const adapter: Adapter = async (config) => {
      try {
        return await httpAdapter(config);
      } catch (err) {
        networkError = err;
        throw err;
      }
    };
    let resp: AxiosLikeResponse;
    try {
      resp = await original(url, method, {
        ...opts,
        adapter,
        httpsAgent: agent,
        signal,
        timeout: ACME_REQUEST_TIMEOUT_MS,
        maxRedirects: 0,
        maxContentLength: MAX_RESPONSE_BYTES,
        maxBodyLength: MAX_RESPONSE_BYTES,
        // acme-client's shared interceptor counts attempts in this field: start past its limit so it never retries.
        retryAttempt: Number.MAX_SAFE_INTEGER - 1,
      });
    } catch (err) {
      signal.throwIfAborted();
      const cause = networkError ?? err;
      const code = errorCodeOf(cause);
      const msg = messageOf(cause);
      const text = code && !msg.includes(code) ? `${code}${msg ? ` ${msg}` : ''}` : msg || code || 'network error';
      throw new AcmeNetworkError(url, method.toUpperCase(), code, `${method.toUpperCase()} ${url}: ${text}`, { cause });
    }
    state.lastRetryAfterMs = parseRetryAfter(resp.headers['retry-after']);
    state.lastProblem = problemOf(resp, url, method);
    return resp;
  };
  return state;
}

/** TLS verification failures: retrying gives the same answer until someone changes the trust or the CA's cert. */
const TLS_TRUST_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'HOSTNAME_MISMATCH',
]);

/** ACME problem types after which the same request will get the same answer (RFC 8555 §6.7, RFC 8738, RFC 8657). */
const TERMINAL_PROBLEMS = new Set([
  'accountDoesNotExist',
  'alreadyRevoked',
  'badCSR',
  'badPublicKey',
  'badRevocationReason',
  'badSignatureAlgorithm',
  'caa',
  'externalAccountRequired',
  'invalidContact',
  'malformed',
  'orderNotReady',
  'rejectedIdentifier',
  'unauthorized',
  'unsupportedContact',
  'unsupportedIdentifier',
  'userActionRequired',
  'invalidProfile',
]);
/** Problem types that come from validating a challenge (found in `authz.challenges[].error`). */
export const CHALLENGE_PROBLEMS = new Set(['connection', 'dns', 'incorrectResponse', 'tls', 'unauthorized', 'caa']);

/**
 * Turns anything an acme-client call threw into a CertFleetError, using the transport's record of the last
 * response. `what` names the step ("create order", "finalize", …).
 */
export function classifyAcmeError(err: unknown, what: string, transport: AcmeTransport | undefined): CertFleetError {
  if (err instanceof CertFleetError) return err;
  const base = `acme(${what})`;
  if (err instanceof AcmeNetworkError) {
    const host = safeHost(err.url);
    if (err.errorCode && TLS_TRUST_CODES.has(err.errorCode)) {
      return new CertFleetError(
        'CF_ISSUER_UNAVAILABLE',
        `${base}: TLS verification of ${host} failed (${err.errorCode}); if the CA uses a private TLS root, put it in caBundlePem`,
        { retryable: false, cause: err, details: { url: err.url, errorCode: err.errorCode } }
      );
    }
    return new CertFleetError(
      'CF_ISSUER_UNAVAILABLE',
      `${base}: cannot reach the ACME server at ${host}: ${err.message}`,
      {
        retryable: true,
        cause: err,
        details: { url: err.url, ...(err.errorCode ? { errorCode: err.errorCode } : {}) },
      }
    );
  }
  const problem = transport?.lastProblem;
  if (problem) {
    const retryAfter =
      problem.retryAfterMs !== undefined ? new Date(Date.now() + problem.retryAfterMs).toISOString() : undefined;
    const details: Record<string, unknown> = {
      status: problem.status,
      problemType: problem.type,
      detail: problem.detail,
      url: problem.url,
      ...(retryAfter ? { retryAfter } : {}),
      ...(problem.subproblems ? { subproblems: problem.subproblems } : {}),
    };
    const message = `${base}: the ACME server answered ${problem.status} ${problem.type || 'error'}: ${problem.detail}`;
    let code: ErrorCode;
    let retryable: boolean;
    if (problem.type === 'rateLimited' || problem.type === 'serverInternal' || problem.type === 'badNonce') {
      [code, retryable] = ['CF_ISSUER_UNAVAILABLE', true];
    } else if (problem.status === 429 || problem.status >= 500) {
      [code, retryable] = ['CF_ISSUER_UNAVAILABLE', true];
    } else if (problem.method === 'GET' && (problem.status === 404 || problem.status === 410)) {
      // only the directory is fetched with GET: the URL does not point at an ACME directory
      [code, retryable] = ['CF_ISSUER_CONFIG_INVALID', false];
    } else if (TERMINAL_PROBLEMS.has(problem.type) || (problem.status >= 400 && problem.status < 500)) {
      [code, retryable] = ['CF_ISSUER_REJECTED', false];
    } else {
      [code, retryable] = ['CF_ISSUER_UNAVAILABLE', true];
    }
    return new CertFleetError(code, message, { retryable, cause: err, details });
  }
  // acme-client's own errors without an HTTP problem: malformed directory, missing Location/URLs, unexpected status.
  return new CertFleetError('CF_ISSUER_UNAVAILABLE', `${base}: ${messageOf(err)}`, { retryable: true, cause: err });
}

function safeHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}
