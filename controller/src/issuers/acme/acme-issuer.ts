/**
 * The `acme` issuer (SPEC A2; STYLE §7.3): any RFC 8555 CA through acme-client 5.4.0.
 *
 * One call of `issue` runs: account (one per directory URL, see acme-account.ts) → new order for the request's
 * SANs → for each pending authorization the configured challenge (http-01 published through the
 * {@link ChallengeResponder} in the issuer deps, dns-01 through the configured hook) → wait for validation →
 * cleanup (always) → finalize with the caller's CSR → wait for the certificate → download (leaf + chain split).
 * The issuer never generates the certificate key: the CSR comes from the caller.
 *
 * Identifiers: DNS SANs become `dns` identifiers (wildcards need dns-01); IP SANs become `ip` identifiers
 * (RFC 8738) and are sent to the CA, which decides — pebble and some private CAs accept them, a CA that does not
 * answers `rejectedIdentifier`/`unsupportedIdentifier` and the request fails with CF_ISSUER_REJECTED. IP addresses
 * cannot be validated with dns-01, so that combination is rejected before contacting the CA. E-mail and URI SANs
 * cannot be certified by ACME at all (CF_ISSUER_REJECTED). Because an ACME CA reads the names from the CSR, the CSR's
 * CN + SANs must be exactly the request's SANs; a CSR that differs is refused up front (CF_CSR_INVALID) instead of
 * by the CA.
 *
 * Waiting: a status that is not final yet is re-checked after `pollIntervalMs`/4, then after `pollIntervalMs`
 * (default 5 s, acme-client's default `backoffMin`) doubling up to 30 s; a Retry-After from the CA wins. When the order is not done after `maxWaitMs` (default 90 s) the call
 * returns `pending` with `state` = {@link AcmeOrderState} (order URL and the published challenges, no secrets) and
 * `poll` continues the same order later (re-publishing HTTP-01 answers, which live in memory, first). Every wait,
 * request and hook honours the AbortSignal; an abort rejects with `signal.reason` after cleaning up challenges.
 *
 * Errors (CertFleetError): CF_ISSUER_CONFIG_INVALID (bad config, missing responder or EAB secret, directory URL
 * that is not an ACME directory); CF_ISSUER_UNAVAILABLE retryable (network, timeouts, 5xx, rate limits — with
 * `details.retryAfter` when the CA sent one); CF_ISSUER_UNAVAILABLE not retryable (TLS verification of the CA
 * failed: add its root to `caBundlePem`); CF_ISSUER_REJECTED terminal (the CA refused an identifier, the CSR, the
 * account, …); CF_ISSUER_CHALLENGE_FAILED (validation failed — retryable, DNS/firewalls change — or the CA offers no
 * challenge of the configured type — terminal); CF_CSR_INVALID (CSR names ≠ SANs).
 */
import 'reflect-metadata';
import { X509Certificate, createHash, createPublicKey } from 'node:crypto';
import https from 'node:https';
import { setTimeout as delay } from 'node:timers/promises';
import tls from 'node:tls';
import * as x509 from '@peculiar/x509';
import * as acme from 'acme-client';
import { z } from 'zod';
import { CertFleetError } from '@certfleet/shared';
import type { San } from '../../domain/definition';
import { canonicalIp } from '../internal-ca';
import type { IssueOutcome, IssueRequest, Issuer, IssuerDeps } from '../issuer';
import { defineIssuer } from '../registry';
import { loadOrCreateAccount, readEabHmacKey, recordRegistration, type AcmeAccountHandle } from './acme-account';
import { CHALLENGE_PROBLEMS, classifyAcmeError, installTransport, type AcmeTransport } from './acme-transport';
import { dnsRecordFor, runDnsHook } from './dns-hook';

/** acme-client's default `backoffMin`; used when `pollIntervalMs` is not set. */
const DEFAULT_POLL_INTERVAL_MS = 5_000;
/** acme-client's default `backoffMax`. */
const MAX_POLL_INTERVAL_MS = 30_000;
const DEFAULT_MAX_WAIT_MS = 90_000;
/** A Retry-After longer than this (e.g. a rate limit) is not slept through: the call returns / fails with it. */
const MAX_INLINE_RETRY_AFTER_MS = 60_000;

function isPemCertificates(text: string): boolean {
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
  if (!blocks || blocks.length === 0 || blocks.length > 100) return false;
  try {
    for (const b of blocks) new X509Certificate(b);
    return true;
  } catch {
    return false;
  }
}

export const acmeIssuerConfigSchema = z
  .object({
    directoryUrl: z
      .url({ protocol: /^https$/, error: 'directoryUrl must be an https:// URL (RFC 8555 §6.1)' })
      .max(2000)
      .describe('ACME directory URL, e.g. https://acme-v02.api.letsencrypt.org/directory'),
    email: z.email().max(320).optional().describe('account contact (mailto:)'),
    eab: z
      .object({
        kid: z.string().min(1).max(200).describe('EAB key identifier given by the CA'),
        hmacKeySecretName: z
          .string()
          .min(1)
          .max(200)
          .describe('name of the sealed secret holding the EAB HMAC key (base64url, as given by the CA)'),
      })
      .strict()
      .optional()
      .describe('External Account Binding (RFC 8555 §7.3.4), needed by CAs such as ZeroSSL, Google, Sectigo'),
    challenge: z.enum(['http-01', 'dns-01']).default('http-01').describe('validation method'),
    dnsHook: z
      .object({
        command: z
          .array(z.string().min(1).max(4096))
          .min(1)
          .max(64)
          .refine((argv) => (argv[0] ?? '').startsWith('/'), 'command[0] must be an absolute path (no PATH lookup)')
          .describe('argv run with execFile (never a shell string); env CERTFLEET_ACME_ACTION=present|cleanup, …'),
        timeoutMs: z.number().int().min(100).max(3_600_000).default(120_000),
      })
      .strict()
      .optional()
      .describe('DNS-01 hook; required when challenge is dns-01'),
    caBundlePem: z
      .string()
      .max(1024 * 1024)
      .refine(isPemCertificates, 'caBundlePem must be one or more PEM certificates')
      .optional()
      .describe("extra trust anchors for the directory's TLS (added to the system roots), e.g. a private CA's"),
    trustAnchorsPem: z
      .string()
      .max(1024 * 1024)
      .refine(isPemCertificates, 'trustAnchorsPem must be one or more PEM certificates')
      .optional()
      .describe(
        'roots the issued chain may end at besides the public (Mozilla) roots, for private ACME CAs (step-ca, pebble)'
      ),
    preferredChain: z.string().min(1).max(200).optional().describe('issuer CN of the preferred alternate chain'),
    pollIntervalMs: z
      .number()
      .int()
      .min(10)
      .max(MAX_POLL_INTERVAL_MS)
      .optional()
      .describe(
        'status-poll base delay (first re-check after 1/4 of it, then doubling up to 30 s); default 5000; Retry-After wins'
      ),
    maxWaitMs: z
      .number()
      .int()
      .min(0)
      .max(600_000)
      .optional()
      .describe('how long one call waits for validation/issuance before returning pending; default 90000'),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.challenge === 'dns-01' && !c.dnsHook) {
      ctx.addIssue({ code: 'custom', path: ['dnsHook'], message: 'dnsHook is required when challenge is dns-01' });
    }
  });

export type AcmeIssuerConfig = z.infer<typeof acmeIssuerConfigSchema>;

/** One challenge published (and not yet cleaned up) for an order. */
const presentedSchema = z
  .object({
    type: z.enum(['http-01', 'dns-01']),
    identifier: z.string().min(1).max(300),
    token: z.string().min(1).max(300),
  })
  .strict();
type Presented = z.infer<typeof presentedSchema>;

/** `pending.state` of an ACME order: no secrets (tokens and URLs are public once published). */
export const acmeOrderStateSchema = z
  .object({
    v: z.literal(1),
    directoryUrl: z.string(),
    accountUrl: z.string(),
    orderUrl: z.string(),
    status: z.string(),
    presented: z.array(presentedSchema).max(1000),
  })
  .strict();
export type AcmeOrderState = z.infer<typeof acmeOrderStateSchema>;

type AcmeIdentifier = { type: 'dns' | 'ip'; value: string };

/** Maps the request's SANs to ACME identifiers (see the module comment for the IP decision). */
export function identifiersFor(sans: readonly San[], challenge: AcmeIssuerConfig['challenge']): AcmeIdentifier[] {
  const out: AcmeIdentifier[] = [];
  const seen = new Set<string>();
  for (const san of sans) {
    let id: AcmeIdentifier;
    if (san.type === 'dns') {
      const value = san.value.toLowerCase().replace(/\.$/, '');
      if (value.startsWith('*.') && challenge !== 'dns-01') {
        throw new CertFleetError(
          'CF_ISSUER_REJECTED',
          `acme: wildcard ${value} can only be validated with dns-01 (configured: ${challenge})`,
          { details: { identifier: value, challenge } }
        );
      }
      id = { type: 'dns', value };
    } else if (san.type === 'ip') {
      const value = canonicalIp(san.value);
      if (value === null) {
        throw new CertFleetError('CF_ISSUER_REJECTED', `acme: ${san.value} is not an IP address`);
      }
      if (challenge === 'dns-01') {
        throw new CertFleetError(
          'CF_ISSUER_REJECTED',
          `acme: IP address ${value} cannot be validated with dns-01 (RFC 8738); use http-01`,
          { details: { identifier: value, challenge } }
        );
      }
      id = { type: 'ip', value };
    } else {
      throw new CertFleetError(
        'CF_ISSUER_REJECTED',
        `acme: ${san.type} SANs cannot be certified by an ACME CA (only DNS names and IP addresses)`,
        { details: { san } }
      );
    }
    const key = `${id.type}:${id.value}`;
    if (!seen.has(key)) {
      seen.add(key);
      out.push(id);
    }
  }
  if (out.length === 0) throw new CertFleetError('CF_ISSUER_REJECTED', 'acme: the request has no DNS or IP SAN');
  return out;
}

/** The CSR's public key (SPKI DER) after checking that its CN + SANs are exactly `identifiers`. */
export function checkCsr(csrPem: string, identifiers: readonly AcmeIdentifier[]): Buffer {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem);
  } catch (err) {
    throw new CertFleetError('CF_CSR_INVALID', 'acme: the request CSR is not a readable PKCS#10 request', {
      cause: err,
    });
  }
  const names = new Set<string>();
  for (const cn of csr.subjectName.getField('CN')) {
    const ip = canonicalIp(cn);
    names.add(ip !== null ? `ip:${ip}` : `dns:${cn.toLowerCase()}`);
  }
  const sanExt = csr.getExtension('2.5.29.17');
  const san = sanExt ? new x509.SubjectAlternativeNameExtension(sanExt.rawData) : null;
  for (const n of san?.names.items ?? []) {
    if (n.type === 'dns') names.add(`dns:${n.value.toLowerCase()}`);
    else if (n.type === 'ip') names.add(`ip:${canonicalIp(n.value) ?? n.value}`);
    else names.add(`${n.type}:${n.value}`);
  }
  const wanted = new Set(identifiers.map((i) => `${i.type}:${i.value}`));
  const extra = [...names].filter((n) => !wanted.has(n));
  const missing = [...wanted].filter((n) => !names.has(n));
  if (extra.length || missing.length) {
    throw new CertFleetError(
      'CF_CSR_INVALID',
      `acme: the CSR's names must equal the request's SANs (an ACME CA certifies what the CSR asks for)` +
        `${extra.length ? `; not requested: ${extra.join(', ')}` : ''}${missing.length ? `; missing: ${missing.join(', ')}` : ''}`,
      { details: { extra, missing } }
    );
  }
  return Buffer.from(csr.publicKey.rawData);
}

function splitPem(chain: string): string[] {
  return (chain.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((b) => `${b}\n`);
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new Error('aborted');
}

/** Everything one call (issue or poll) works with. */
interface Session {
  config: AcmeIssuerConfig;
  deps: IssuerDeps;
  req: IssueRequest;
  signal: AbortSignal;
  account: AcmeAccountHandle;
  client: acme.Client;
  transport: AcmeTransport;
  agent: https.Agent;
  log: IssuerDeps['ctx']['log'];
  /** performance.now() deadline for waiting in this call. */
  deadline: number;
  pollIntervalMs: number;
  presented: Presented[];
}

function newClient(
  config: AcmeIssuerConfig,
  agent: https.Agent,
  signal: AbortSignal,
  account: AcmeAccountHandle,
  eab?: { kid: string; hmacKey: string }
): { client: acme.Client; transport: AcmeTransport } {
  const client = new acme.Client({
    directoryUrl: config.directoryUrl,
    accountKey: account.accountKeyPem,
    ...(account.accountUrl ? { accountUrl: account.accountUrl } : {}),
    ...(eab ? { externalAccountBinding: eab } : {}),
    // only used by acme-client's own waits (getCertificate of a not-yet-valid order); our polls use the same shape
    backoffMin: config.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS,
    backoffMax: MAX_POLL_INTERVAL_MS,
  });
  return { client, transport: installTransport(client, agent, signal) };
}

/** Runs one acme-client call, mapping its failure to a CertFleetError (abort → `signal.reason`). */
async function step<T>(s: Session, what: string, fn: () => Promise<T>): Promise<T> {
  s.signal.throwIfAborted();
  try {
    return await fn();
  } catch (err) {
    if (s.signal.aborted) throw abortReason(s.signal);
    throw classifyAcmeError(err, what, s.transport);
  }
}

/** Registers the account (first use, or after the CA forgot it) and records its URL. */
async function register(s: Session): Promise<void> {
  const eab = s.config.eab
    ? { kid: s.config.eab.kid, hmacKey: await readEabHmacKey(s.deps.ctx, s.config.eab.hmacKeySecretName) }
    : undefined;
  const fresh = newClient(s.config, s.agent, s.signal, { ...s.account, accountUrl: null }, eab);
  s.client = fresh.client;
  s.transport = fresh.transport;
  await step(s, 'register account', () =>
    s.client.createAccount({
      termsOfServiceAgreed: true,
      ...(s.config.email ? { contact: [`mailto:${s.config.email}`] } : {}),
    })
  );
  const accountUrl = s.client.getAccountUrl();
  await recordRegistration(s.deps.ctx, s.account, {
    accountUrl,
    email: s.config.email ?? null,
    eabKid: s.config.eab?.kid ?? null,
  });
  s.log.info({ directoryUrl: s.config.directoryUrl, accountUrl }, 'acme: account registered');
}

/** Runs `fn`; when the CA says the stored account does not exist, registers the key again and retries once. */
async function withAccount<T>(s: Session, what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await step(s, what, fn);
  } catch (err) {
    if (err instanceof CertFleetError && err.details?.problemType === 'accountDoesNotExist') {
      s.log.warn(
        { accountUrl: s.account.accountUrl },
        'acme: the CA does not know the stored account; registering again'
      );
      await register(s);
      return step(s, what, fn);
    }
    throw err;
  }
}

/**
 * TLS contexts with the system roots plus a config's `caBundlePem`, built once per distinct bundle: building one
 * parses ~150 root certificates (≈ 20 ms), and acme-client opens a new connection for most requests.
 */
const secureContexts = new Map<string, tls.SecureContext>();
const MAX_SECURE_CONTEXTS = 32;

function secureContextFor(caBundlePem: string | undefined): tls.SecureContext | undefined {
  if (!caBundlePem) return undefined;
  const key = createHash('sha256').update(caBundlePem).digest('hex');
  let sc = secureContexts.get(key);
  if (!sc) {
    sc = tls.createSecureContext({ ca: [...tls.rootCertificates, caBundlePem] });
    if (secureContexts.size >= MAX_SECURE_CONTEXTS) secureContexts.delete(secureContexts.keys().next().value!);
    secureContexts.set(key, sc);
  }
  return sc;
}

async function openSession(
  config: AcmeIssuerConfig,
  deps: IssuerDeps,
  req: IssueRequest,
  signal: AbortSignal
): Promise<Session> {
  const account = await loadOrCreateAccount(deps.ctx, config);
  signal.throwIfAborted();
  const secureContext = secureContextFor(config.caBundlePem);
  const agent = new https.Agent({ keepAlive: true, maxSockets: 4, ...(secureContext ? { secureContext } : {}) });
  const { client, transport } = newClient(config, agent, signal, account);
  const s: Session = {
    config,
    deps,
    req,
    signal,
    account,
    client,
    transport,
    agent,
    log: deps.ctx.log.child({ issuer: 'acme', requestId: req.requestId }),
    deadline: performance.now() + (config.maxWaitMs ?? DEFAULT_MAX_WAIT_MS),
    pollIntervalMs: config.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS,
    presented: [],
  };
  try {
    if (!account.accountUrl) {
      await register(s);
    } else if ((config.email ?? null) !== account.email) {
      const email = config.email ?? null;
      await withAccount(s, 'update account contact', () =>
        s.client.updateAccount({ contact: email ? [`mailto:${email}`] : [] })
      );
      await recordRegistration(deps.ctx, account, { accountUrl: account.accountUrl, email });
    }
  } catch (err) {
    agent.destroy();
    throw err;
  }
  return s;
}

/** The delay before status poll number `attempt` (0-based): pollIntervalMs/4, then pollIntervalMs doubling. */
export function pollDelayMs(pollIntervalMs: number, attempt: number): number {
  if (attempt <= 0) return Math.max(1, Math.round(pollIntervalMs / 4));
  return Math.min(pollIntervalMs * 2 ** (attempt - 1), MAX_POLL_INTERVAL_MS);
}

/**
 * Sleeps before the next status poll: the CA's Retry-After when it sent one, else {@link pollDelayMs}. Returns
 * false (without sleeping) when the wait would cross this call's deadline, or the CA asks for more than a minute —
 * the caller then returns `pending` (with the CA's Retry-After as `retryAfter`).
 */
async function waitForNextPoll(s: Session, attempt: number): Promise<boolean> {
  const retryAfter = s.transport.lastRetryAfterMs;
  if (retryAfter !== undefined && retryAfter > MAX_INLINE_RETRY_AFTER_MS) return false;
  const ms = retryAfter ?? pollDelayMs(s.pollIntervalMs, attempt);
  if (performance.now() + ms > s.deadline) return false;
  try {
    await delay(ms, undefined, { signal: s.signal });
  } catch {
    throw abortReason(s.signal);
  }
  return true;
}

function nextAttemptDelayMs(s: Session): number {
  return s.transport.lastRetryAfterMs ?? s.pollIntervalMs;
}

function challengeError(authz: acme.Authorization): { type: string; detail: string } | undefined {
  for (const c of authz.challenges) {
    const e = (c as { error?: { type?: string; detail?: string } }).error;
    if (e)
      return { type: String(e.type ?? '').replace('urn:ietf:params:acme:error:', ''), detail: String(e.detail ?? '') };
  }
  return undefined;
}

function authorizationFailure(authz: acme.Authorization): CertFleetError {
  const id = authz.identifier.value;
  const e = challengeError(authz);
  const retryable = authz.status === 'invalid' && (e === undefined || CHALLENGE_PROBLEMS.has(e.type));
  return new CertFleetError(
    'CF_ISSUER_CHALLENGE_FAILED',
    `acme: authorization for ${id} is ${authz.status}${e ? `: ${e.type} ${e.detail}` : ''}`,
    {
      retryable,
      details: {
        identifier: id,
        status: authz.status,
        ...(e ? { problemType: e.type, detail: e.detail.slice(0, 1000) } : {}),
      },
    }
  );
}

async function publish(s: Session, p: Presented, keyAuthorization: string): Promise<void> {
  if (p.type === 'http-01') {
    const responder = s.deps.http01Responder;
    if (!responder) throw new CertFleetError('CF_ISSUER_CONFIG_INVALID', 'acme(http-01): no HTTP-01 responder');
    await responder.publish(p.token, keyAuthorization, { identifier: p.identifier, requestId: s.req.requestId });
  } else {
    const hook = s.config.dnsHook;
    if (!hook) throw new CertFleetError('CF_ISSUER_CONFIG_INVALID', 'acme(dns-01): no dnsHook configured');
    const r = await runDnsHook(hook, 'present', dnsRecordFor(p.identifier, keyAuthorization), s.signal);
    s.log.debug({ identifier: p.identifier, ms: r.ms }, 'acme: dns-01 hook present done');
  }
}

/** Removes every presented challenge; failures are logged, never thrown (cleanup must not hide the outcome). */
async function cleanup(s: Session): Promise<void> {
  const all = s.presented.splice(0);
  for (const p of all) {
    try {
      if (p.type === 'http-01') {
        await s.deps.http01Responder?.remove(p.token, { identifier: p.identifier, requestId: s.req.requestId });
      } else if (s.config.dnsHook) {
        // the TXT value is derived from the token and the account key; run without the caller's signal
        const keyAuthorization = await s.client.getChallengeKeyAuthorization({
          type: 'dns-01',
          token: p.token,
          url: '',
          status: 'pending',
        });
        await runDnsHook(s.config.dnsHook, 'cleanup', dnsRecordFor(p.identifier, keyAuthorization));
      }
    } catch (err) {
      s.log.warn({ err, identifier: p.identifier, type: p.type }, 'acme: challenge cleanup failed');
    }
  }
}

/**
 * Presents and completes the challenges of every pending authorization, then waits for all of them.
 * Returns 'valid' when all are valid, 'waiting' when this call's deadline came first (challenges stay published).
 */
async function satisfyAuthorizations(s: Session, order: acme.Order): Promise<'valid' | 'waiting'> {
  const type = s.config.challenge;
  const authzs = await step(s, 'get authorizations', () => s.client.getAuthorizations(order));
  const toComplete: acme.Authorization['challenges'] = [];
  for (const authz of authzs) {
    if (authz.status === 'valid') continue;
    if (authz.status !== 'pending') throw authorizationFailure(authz);
    const challenge = authz.challenges.find((c) => c.type === type);
    const identifier = authz.identifier.value;
    if (!challenge) {
      throw new CertFleetError(
        'CF_ISSUER_CHALLENGE_FAILED',
        `acme: the CA offers no ${type} challenge for ${identifier} (offered: ${authz.challenges.map((c) => c.type).join(', ')})`,
        { retryable: false, details: { identifier, offered: authz.challenges.map((c) => c.type) } }
      );
    }
    const p: Presented = { type, identifier, token: challenge.token };
    const keyAuthorization = await step(s, 'key authorization', () => s.client.getChallengeKeyAuthorization(challenge));
    const already = s.presented.some((x) => x.token === p.token && x.type === p.type);
    // recorded before publishing, so that cleanup also runs for a hook that failed half-way
    if (!already) s.presented.push(p);
    // HTTP-01 answers live in memory: publish again (idempotent) in case the process restarted since `issue`.
    if (!already || p.type === 'http-01') await publish(s, p, keyAuthorization);
    if (challenge.status === 'pending') toComplete.push(challenge);
  }
  await Promise.all(toComplete.map((c) => step(s, 'complete challenge', () => s.client.completeChallenge(c))));
  for (let attempt = 0; ; attempt++) {
    const current = await step(s, 'get authorizations', () => s.client.getAuthorizations(order));
    const failed = current.find((a) => a.status !== 'pending' && a.status !== 'valid');
    if (failed) throw authorizationFailure(failed);
    if (current.every((a) => a.status === 'valid')) return 'valid';
    if (!(await waitForNextPoll(s, attempt))) return 'waiting';
  }
}

async function orderFailure(s: Session, order: acme.Order): Promise<CertFleetError> {
  const authzs = await step(s, 'get authorizations', () => s.client.getAuthorizations(order)).catch(() => []);
  const failed = authzs.find((a) => a.status !== 'valid' && a.status !== 'pending');
  if (failed) return authorizationFailure(failed);
  const e = (order as { error?: { type?: string; detail?: string } }).error;
  return new CertFleetError(
    'CF_ISSUER_REJECTED',
    `acme: order ${order.url} is invalid${e ? `: ${e.type ?? ''} ${e.detail ?? ''}` : ''}`,
    { details: { orderUrl: order.url, ...(e ? { problemType: e.type, detail: e.detail } : {}) } }
  );
}

function pendingOutcome(s: Session, order: acme.Order, waitingFor: string): IssueOutcome {
  const state: AcmeOrderState = {
    v: 1,
    directoryUrl: s.config.directoryUrl,
    accountUrl: s.account.accountUrl ?? '',
    orderUrl: order.url,
    status: order.status,
    presented: [...s.presented],
  };
  s.presented.length = 0; // handed over to `poll`: not cleaned up by this call
  return {
    kind: 'pending',
    state,
    retryAfter: new Date(s.deps.ctx.clock.now().getTime() + nextAttemptDelayMs(s)),
    waitingFor,
  };
}

/** Drives an order from whatever status it has to issued, pending (deadline) or a thrown error. */
async function driveOrder(s: Session, start: acme.Order, csrPublicKey: Buffer): Promise<IssueOutcome> {
  let order = start;
  const host = new URL(s.config.directoryUrl).host;
  try {
    for (let attempt = 0, guard = 0; guard < 1000; guard++) {
      s.signal.throwIfAborted();
      switch (order.status) {
        case 'pending': {
          if ((await satisfyAuthorizations(s, order)) === 'waiting') {
            // the published challenges go into the pending state; `poll` cleans them up
            return pendingOutcome(s, order, `validation of ${s.config.challenge} challenges by ${host}`);
          }
          await cleanup(s);
          order = await step(s, 'get order', () => s.client.getOrder(order));
          if (order.status === 'pending' && !(await waitForNextPoll(s, attempt++))) {
            return pendingOutcome(s, order, `the order to become ready at ${host}`);
          }
          break;
        }
        case 'ready':
          order = await step(s, 'finalize', () => s.client.finalizeOrder(order, s.req.csrPem));
          attempt = 0;
          break;
        case 'processing':
          if (!(await waitForNextPoll(s, attempt++))) {
            return pendingOutcome(s, order, `certificate issuance by ${host}`);
          }
          order = await step(s, 'get order', () => s.client.getOrder(order));
          break;
        case 'valid':
          return await download(s, order, csrPublicKey);
        case 'invalid':
          throw await orderFailure(s, order);
        default:
          throw new CertFleetError(
            'CF_ISSUER_UNAVAILABLE',
            `acme: order has unexpected status ${String(order.status)}`,
            {
              retryable: true,
              details: { orderUrl: order.url, status: order.status },
            }
          );
      }
    }
    throw new CertFleetError('CF_INTERNAL', 'acme: order loop did not settle');
  } finally {
    await cleanup(s); // a no-op after pendingOutcome, which hands the published challenges to `poll`
  }
}

async function download(s: Session, order: acme.Order, csrPublicKey: Buffer): Promise<IssueOutcome> {
  const pem = await step(s, 'download certificate', () => s.client.getCertificate(order, s.config.preferredChain));
  const [leafPem, ...chainPem] = splitPem(pem);
  if (!leafPem) {
    throw new CertFleetError('CF_ISSUER_UNAVAILABLE', 'acme: the CA returned no certificate', {
      retryable: true,
      details: { certificateUrl: order.certificate },
    });
  }
  const leafKey = createPublicKey(
    new X509Certificate(leafPem).publicKey.export({ type: 'spki', format: 'pem' })
  ).export({ type: 'spki', format: 'der' });
  if (!leafKey.equals(csrPublicKey)) {
    throw new CertFleetError('CF_ISSUER_REJECTED', "acme: the CA's certificate does not carry the CSR's public key", {
      details: { certificateUrl: order.certificate },
    });
  }
  return { kind: 'issued', leafPem, chainPem, ...(order.certificate ? { externalId: order.certificate } : {}) };
}

async function run(
  config: AcmeIssuerConfig,
  deps: IssuerDeps,
  req: IssueRequest,
  signal: AbortSignal,
  rawState: Record<string, unknown> | undefined
): Promise<IssueOutcome> {
  signal.throwIfAborted();
  const started = performance.now();
  const identifiers = identifiersFor(req.sans, config.challenge);
  const csrPublicKey = checkCsr(req.csrPem, identifiers);
  if (config.challenge === 'http-01' && !deps.http01Responder) {
    throw new CertFleetError(
      'CF_ISSUER_CONFIG_INVALID',
      'acme(http-01): no HTTP-01 responder is running in this controller (configure one, or use dns-01)'
    );
  }
  let state: AcmeOrderState | undefined;
  if (rawState !== undefined) {
    const parsed = acmeOrderStateSchema.safeParse(rawState);
    if (parsed.success && parsed.data.directoryUrl === config.directoryUrl) state = parsed.data;
  }
  const s = await openSession(config, deps, req, signal);
  try {
    let order: acme.Order;
    if (state && state.accountUrl === s.account.accountUrl) {
      s.presented.push(...state.presented);
      const orderUrl = state.orderUrl;
      order = await step(s, 'get order', () => s.client.getOrder({ url: orderUrl } as acme.Order)).catch(
        async (err: unknown) => {
          // an order the CA no longer has (expired, CA reset): clean up what was published and start over
          if (err instanceof CertFleetError && err.code === 'CF_ISSUER_REJECTED') {
            s.log.warn({ orderUrl, err: err.message }, 'acme: pending order is gone; creating a new one');
            await cleanup(s);
            return newOrder(s, identifiers);
          }
          throw err;
        }
      );
    } else {
      order = await newOrder(s, identifiers);
    }
    const outcome = await driveOrder(s, order, csrPublicKey);
    s.log.info(
      {
        orderUrl: order.url,
        outcome: outcome.kind,
        ms: Math.round(performance.now() - started),
        requests: s.transport.requests,
      },
      outcome.kind === 'issued' ? 'acme: certificate issued' : 'acme: order pending'
    );
    return outcome;
  } finally {
    s.agent.destroy();
  }
}

async function newOrder(s: Session, identifiers: AcmeIdentifier[]): Promise<acme.Order> {
  const order = await withAccount(s, 'create order', () => s.client.createOrder({ identifiers }));
  s.log.debug({ orderUrl: order.url, identifiers }, 'acme: order created');
  return order;
}

/** Creates an ACME issuer for a parsed config (exported for tests and the registry). */
export function createAcmeIssuer(config: AcmeIssuerConfig, deps: IssuerDeps): Issuer {
  return {
    issue: (req, signal) => run(config, deps, req, signal, undefined),
    poll: (req, state, signal) => run(config, deps, req, signal, state),
  };
}

export const acmeIssuer = defineIssuer<AcmeIssuerConfig>({
  type: 'acme',
  title: 'ACME (RFC 8555: Let’s Encrypt, ZeroSSL, Google, step-ca, …)',
  config: acmeIssuerConfigSchema,
  create: createAcmeIssuer,
});
