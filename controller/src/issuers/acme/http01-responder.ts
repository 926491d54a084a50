/**
 * HTTP-01 challenge answering for the ACME issuer (SPEC A2, RFC 8555 §8.3).
 *
 * Two parts:
 * - {@link ChallengeResponder}: the port the ACME issuer publishes key authorizations through. The controller's own
 *   standalone responder below implements it; later an agent-backed responder (the target host answers HTTP-01
 *   itself) implements the same interface and routes by `context.identifier`.
 * - {@link startHttp01Responder}: a tiny node:http server that answers only
 *   `GET|HEAD /.well-known/acme-challenge/<token>` with the key authorization as `text/plain`. Everything else is
 *   404 (405 for other methods on a challenge path). Tokens are base64url, 1–{@link MAX_TOKEN_LENGTH} characters;
 *   anything else never reaches the token table. The server keeps no state but the in-memory table and never reads
 *   request bodies.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { CertFleetError } from '@certfleet/shared';

/** Path prefix fixed by RFC 8555 §8.3. */
export const HTTP01_PATH_PREFIX = '/.well-known/acme-challenge/';
/** RFC 8555 tokens carry ≥ 128 bits of base64url; real CAs use 43 characters. Longer input is refused. */
export const MAX_TOKEN_LENGTH = 128;
/** Key authorization = token "." base64url(SHA-256 JWK thumbprint) (43 characters). */
const MAX_KEY_AUTHORIZATION_LENGTH = MAX_TOKEN_LENGTH + 1 + 128;
/** A bound on simultaneously published tokens (each order publishes one per identifier). */
export const MAX_PUBLISHED_TOKENS = 10_000;

const TOKEN_RE = new RegExp(`^[A-Za-z0-9_-]{1,${MAX_TOKEN_LENGTH}}$`);
const KEY_AUTHORIZATION_RE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** True when `token` has the shape of an ACME challenge token (base64url, bounded length). */
export function isValidChallengeToken(token: string): boolean {
  return TOKEN_RE.test(token);
}

/** Which order/identifier a publication belongs to: lets a routing responder pick the host that must answer. */
export interface ChallengeContext {
  /** The identifier being validated (DNS name or IP address), e.g. `www.example.com`. */
  identifier: string;
  /** The acquisition request the order belongs to. */
  requestId?: string;
}

/**
 * Makes an HTTP-01 key authorization answerable at `http://<identifier>/.well-known/acme-challenge/<token>`.
 * Implementations must be idempotent: `publish` of an already published token replaces it, `remove` of an
 * unknown token is a no-op. `publish` resolves only once the answer is live.
 */
export interface ChallengeResponder {
  publish(token: string, keyAuthorization: string, context?: ChallengeContext): void | Promise<void>;
  remove(token: string, context?: ChallengeContext): void | Promise<void>;
}

/** The controller's standalone responder. */
export interface Http01Responder extends ChallengeResponder {
  /** The port actually bound (useful with `port: 0`). */
  readonly port: number;
  readonly host: string;
  publish(token: string, keyAuthorization: string, context?: ChallengeContext): void;
  remove(token: string, context?: ChallengeContext): void;
  /** Number of tokens currently published. */
  size(): number;
  /** Stops listening and drops open connections. */
  close(): Promise<void>;
}

export interface Http01ResponderOptions {
  /** Bind address, e.g. `0.0.0.0` in production (CAs connect on port 80) or `127.0.0.1` in tests. */
  host: string;
  /** 80 in production; 0 picks a free port. */
  port: number;
  /** Called for every request that was answered (for debug logs); never gets the key authorization. */
  onRequest?: (info: { method: string; path: string; status: number; remoteAddress: string | undefined }) => void;
}

/** Starts the standalone HTTP-01 responder. Rejects with CF_CONFIG_INVALID when the address cannot be bound. */
export async function startHttp01Responder(options: Http01ResponderOptions): Promise<Http01Responder> {
  const tokens = new Map<string, string>();

  const server = http.createServer((req, res) => {
    const method = req.method ?? 'GET';
    const rawPath = (req.url ?? '/').split('?', 1)[0] ?? '/';
    let status = 404;
    let body = 'not found\n';
    if (rawPath.startsWith(HTTP01_PATH_PREFIX)) {
      const token = rawPath.slice(HTTP01_PATH_PREFIX.length);
      if (method !== 'GET' && method !== 'HEAD') {
        status = 405;
        body = 'method not allowed\n';
        res.setHeader('Allow', 'GET, HEAD');
      } else if (isValidChallengeToken(token)) {
        const answer = tokens.get(token);
        if (answer !== undefined) {
          status = 200;
          body = answer;
        }
      }
    }
    res.statusCode = status;
    res.setHeader('Content-Type', 'text/plain; charset=utf-8');
    res.setHeader('Content-Length', Buffer.byteLength(body));
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    // Never read a body: a client that sends one gets its connection closed after the answer.
    if (req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined) {
      res.setHeader('Connection', 'close');
    }
    res.end(method === 'HEAD' ? undefined : body);
    options.onRequest?.({
      method,
      path: rawPath.length > 200 ? `${rawPath.slice(0, 200)}…` : rawPath,
      status,
      remoteAddress: req.socket.remoteAddress,
    });
  });
  // Validation requests are tiny and quick: keep slow clients from holding sockets.
  server.headersTimeout = 10_000;
  server.requestTimeout = 15_000;
  server.keepAliveTimeout = 5_000;
  server.maxHeadersCount = 50;

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(
        new CertFleetError(
          'CF_CONFIG_INVALID',
          `acme(http-01): cannot listen on ${options.host}:${options.port}: ${err.code ?? err.message}`,
          { cause: err, details: { host: options.host, port: options.port } }
        )
      );
    };
    server.once('error', onError);
    server.listen({ host: options.host, port: options.port }, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;

  return {
    port: address.port,
    host: options.host,
    publish(token, keyAuthorization) {
      if (!isValidChallengeToken(token)) {
        throw new CertFleetError('CF_VALIDATION', 'acme(http-01): challenge token is not bounded base64url', {
          details: { tokenLength: token.length },
        });
      }
      if (
        keyAuthorization.length > MAX_KEY_AUTHORIZATION_LENGTH ||
        !KEY_AUTHORIZATION_RE.test(keyAuthorization) ||
        !keyAuthorization.startsWith(`${token}.`)
      ) {
        throw new CertFleetError('CF_VALIDATION', 'acme(http-01): key authorization must be "<token>.<thumbprint>"');
      }
      if (!tokens.has(token) && tokens.size >= MAX_PUBLISHED_TOKENS) {
        throw new CertFleetError('CF_ISSUER_UNAVAILABLE', 'acme(http-01): too many challenges published at once', {
          retryable: true,
          details: { limit: MAX_PUBLISHED_TOKENS },
        });
      }
      tokens.set(token, keyAuthorization);
    },
    remove(token) {
      tokens.delete(token);
    },
    size: () => tokens.size,
    close: () =>
      new Promise<void>((resolve) => {
        tokens.clear();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
