/**
 * The console's only door to the controller: the REST API under /api/v1 (the same one the CLI uses).
 *
 * Session contract: `POST /api/v1/auth/login {username, password, cookie: true}` sets the HttpOnly cookie
 * `__Host-certfleet-session` and answers `{csrfToken, user}`; `GET /api/v1/auth/me` answers the user with its
 * `csrfToken`; every POST/PUT/PATCH/DELETE carries `x-csrf-token`. The CSRF token lives only in memory (after a
 * reload it is read again from /me). A controller that does not know cookie sessions yet answers the login with a
 * bearer token instead; the console then keeps that token in memory for this page only (a reload logs out).
 *
 * Errors are `{error: {code, message, details?}}`; they become {@link ApiError}.
 */

export interface User {
  username: string;
  role: string;
  mustChangePassword: boolean;
}

/** A failed API call: HTTP status plus the controller's typed error. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

let csrfToken: string | null = null;
/** Only with a controller that has no cookie sessions (see the module comment). */
let bearerToken: string | null = null;
const unauthorizedListeners = new Set<() => void>();

/** How the current session is held: `cookie` (the contract) or `bearer` (fallback for older controllers). */
export function sessionKind(): 'cookie' | 'bearer' | 'none' {
  if (bearerToken) return 'bearer';
  return csrfToken ? 'cookie' : 'none';
}

/** Called when any call answers 401 (session ended, expired or logged out elsewhere). */
export function onUnauthorized(listener: () => void): () => void {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
}

type Query = Record<string, string | number | boolean | undefined | null>;

function withQuery(url: string, query?: Query): string {
  if (!query) return url;
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `${url}?${s}` : url;
}

async function call<T>(method: string, url: string, body?: unknown, opts: { quiet401?: boolean } = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD' && csrfToken) headers['x-csrf-token'] = csrfToken;
  if (bearerToken) headers.authorization = `Bearer ${bearerToken}`;
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers,
      credentials: 'same-origin',
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  } catch {
    throw new ApiError(0, 'CF_NETWORK', 'The controller cannot be reached. Check the connection and try again.');
  }
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!res.ok) {
    const err = (json as { error?: { code?: string; message?: string; details?: Record<string, unknown> } } | null)
      ?.error;
    if (res.status === 401 && !opts.quiet401) for (const l of unauthorizedListeners) l();
    throw new ApiError(
      res.status,
      err?.code ?? `HTTP_${res.status}`,
      err?.message ?? `${method} ${url} failed with HTTP ${res.status}`,
      err?.details
    );
  }
  return json as T;
}

/** For API client modules named by concept (api-*.ts): the JSON request primitive and the query builder. */
export { call as apiCall, withQuery as apiQuery };

/**
 * A raw request for API client modules (downloads, bodies sent as the user gave them): the session headers as
 * {@link apiCall} sends them; `body` is sent as is (`string`) or as JSON. Answers the Response when it is 2xx, else
 * throws the controller's typed {@link ApiError}.
 */
export async function apiFetch(
  method: string,
  url: string,
  opts: { body?: unknown; contentType?: string; accept?: string; quiet401?: boolean } = {}
): Promise<Response> {
  const headers: Record<string, string> = { accept: opts.accept ?? 'application/json' };
  if (opts.body !== undefined) headers['content-type'] = opts.contentType ?? 'application/json';
  if (method !== 'GET' && method !== 'HEAD' && csrfToken) headers['x-csrf-token'] = csrfToken;
  if (bearerToken) headers.authorization = `Bearer ${bearerToken}`;
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers,
      credentials: 'same-origin',
      ...(opts.body !== undefined
        ? { body: typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body) }
        : {}),
    });
  } catch {
    throw new ApiError(0, 'CF_NETWORK', 'The controller cannot be reached. Check the connection and try again.');
  }
  if (res.ok) return res;
  const json = (await res.json().catch(() => null)) as {
    error?: { code?: string; message?: string; details?: Record<string, unknown> };
  } | null;
  if (res.status === 401 && !opts.quiet401) for (const l of unauthorizedListeners) l();
  throw new ApiError(
    res.status,
    json?.error?.code ?? `HTTP_${res.status}`,
    json?.error?.message ?? `${method} ${url} failed with HTTP ${res.status}`,
    json?.error?.details
  );
}

export interface Page<T> {
  items: T[];
  total: number;
}

// ---- auth -------------------------------------------------------------------------------------------------------

interface LoginAnswer {
  csrfToken?: string;
  token?: string;
  user: User;
}

/** Logs in (cookie session). Falls back to a bearer token when the controller does not offer cookie sessions. */
export async function login(username: string, password: string): Promise<User> {
  let answer: LoginAnswer;
  try {
    answer = await call<LoginAnswer>(
      'POST',
      '/api/v1/auth/login',
      { username, password, cookie: true },
      { quiet401: true }
    );
  } catch (err) {
    // An older controller refuses the unknown `cookie` field (CF_VALIDATION): log in the bearer way.
    if (!(err instanceof ApiError && err.code === 'CF_VALIDATION' && /cookie/i.test(err.message))) throw err;
    answer = await call<LoginAnswer>('POST', '/api/v1/auth/login', { username, password }, { quiet401: true });
  }
  csrfToken = answer.csrfToken ?? null;
  bearerToken = answer.csrfToken ? null : (answer.token ?? null);
  return answer.user;
}

/** The logged-in user, or null without a session. Refreshes the in-memory CSRF token. */
export async function me(): Promise<User | null> {
  // After a reload only the HttpOnly cookie is left: /me tells whether it is still a session.
  try {
    const u = await call<User & { csrfToken?: string }>('GET', '/api/v1/auth/me', undefined, { quiet401: true });
    if (u.csrfToken) csrfToken = u.csrfToken;
    return { username: u.username, role: u.role, mustChangePassword: u.mustChangePassword };
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      csrfToken = null;
      bearerToken = null;
      return null;
    }
    throw err;
  }
}

export async function logout(): Promise<void> {
  try {
    await call('POST', '/api/v1/auth/logout', undefined, { quiet401: true });
  } finally {
    csrfToken = null;
    bearerToken = null;
  }
}

/** Changes the password; the controller ends every session of the user, so the caller logs in again. */
export async function changePassword(currentPassword: string, newPassword: string): Promise<void> {
  await call('POST', '/api/v1/auth/password', { currentPassword, newPassword });
  csrfToken = null;
  bearerToken = null;
}

// ---- W1 definitions ---------------------------------------------------------------------------------------------

export interface StatusColumn {
  state: string;
  label: string;
}

export interface DefinitionRow {
  id: string;
  name: string;
  subject: { commonName: string };
  operationMode: 'managed' | 'monitored';
  processMode: 'interactive' | 'unattended';
  issuerType: string;
  status?: {
    current: StatusColumn & { daysLeft: number | null; notAfter: string | null };
    next: StatusColumn;
    deployment: StatusColumn & { verified: number; targets: number };
    monitor: StatusColumn & { endpoints: number; lastCheckedAt: string | null };
  };
}

export interface DefinitionQuery extends Query {
  q?: string;
  operationMode?: string;
  state?: string;
  limit?: number;
  offset?: number;
}

export function listDefinitions(query: DefinitionQuery): Promise<Page<DefinitionRow>> {
  return call('GET', withQuery('/api/v1/definitions', { ...query, withStatus: true }));
}

// ---- W3 certificates and deployments ----------------------------------------------------------------------------

export interface CertificateRow {
  id: string;
  definitionId: string;
  subject: string;
  issuer: string;
  serial: string;
  sans: string[];
  notBefore: string;
  notAfter: string;
  privateKeyId: string | null;
  isCurrent: boolean;
  source: string;
}

export function listCertificates(query: {
  current?: 'true';
  /** Substring of the subject or of a SAN (server-side, issue 6). */
  q?: string;
  limit?: number;
  offset?: number;
}): Promise<Page<CertificateRow>> {
  return call('GET', withQuery('/api/v1/certificates', query));
}

export interface DeploymentRow {
  id: string;
  certificateId: string;
  definitionId: string;
  target: { serverName?: string; serverType?: string };
  method: string;
  status: string;
  reason: string | null;
  message: string | null;
  updatedAt: string;
}

export function deployNow(certificateId: string): Promise<DeploymentRow[]> {
  return call('POST', `/api/v1/certificates/${encodeURIComponent(certificateId)}/deployments`, {});
}

/** Paged; the W3 screen uses api-deployments.ts (filters, latest check result). */
export function listDeployments(query: { limit?: number; offset?: number } = {}): Promise<Page<DeploymentRow>> {
  return call('GET', withQuery('/api/v1/deployments', query));
}

// ---- W6 monitor control -----------------------------------------------------------------------------------------

export interface MonitorRunRow {
  id: string;
  trigger: string;
  status: string;
  startedAt: string;
  finishedAt: string | null;
  endpoints: number;
  ok: number;
  warning: number;
  failing: number;
  /** Endpoints observed so far (a running run's progress, written with its heartbeat). */
  done?: number;
}

export interface MonitorResult {
  id: string;
  endpoint: string;
  status: string;
  reason: string;
  message: string | null;
  probedBy?: string | null;
  leafNotAfter?: string | null;
}

export function listRuns(limit = 50): Promise<MonitorRunRow[]> {
  return call('GET', withQuery('/api/v1/monitoring/runs', { limit }));
}

export function runNow(): Promise<MonitorRunRow> {
  return call('POST', '/api/v1/monitoring/runs', {});
}

export function getRun(id: string): Promise<MonitorRunRow & { results: MonitorResult[] }> {
  return call('GET', `/api/v1/monitoring/runs/${encodeURIComponent(id)}`);
}

/** The run's self-contained HTML report (opens with the cookie session). */
export function runReportUrl(id: string): string {
  return `/api/v1/monitoring/runs/${encodeURIComponent(id)}/report.html`;
}

// ---- W12 agents -------------------------------------------------------------------------------------------------

export interface AgentRow {
  id: string;
  name: string;
  status: 'active' | 'banned';
  agentVersion: string;
  enrolledAt: string;
  lastSeenAt: string | null;
  bannedAt: string | null;
  connected: boolean;
}

export interface JoinTokenRow {
  id: string;
  label: string | null;
  createdAt: string;
  expiresAt: string;
  usedAt: string | null;
  agentId: string | null;
}

export interface CreatedJoinToken extends JoinTokenRow {
  token: string;
  enrollCommand: string | null;
  controllerCaSha256: string | null;
}

export function listAgents(): Promise<AgentRow[]> {
  return call('GET', '/api/v1/agents');
}

export function listJoinTokens(): Promise<JoinTokenRow[]> {
  return call('GET', '/api/v1/agents/join-tokens');
}

export function createJoinToken(input: { label?: string; ttlMinutes: number }): Promise<CreatedJoinToken> {
  return call('POST', '/api/v1/agents/join-tokens', input);
}

export function banAgent(id: string): Promise<AgentRow> {
  return call('POST', `/api/v1/agents/${encodeURIComponent(id)}/ban`);
}

// ---- W1 definition editing, detail and import (by file upload) ---------------------------------------------------

export interface San {
  type: 'dns' | 'ip' | 'email' | 'uri';
  value: string;
}

export interface DeployTarget {
  serverName: string;
  serverType: string;
  [key: string]: unknown;
}

/** A definition as the API returns it (GET /api/v1/definitions/:id). */
export interface Definition {
  id: string;
  name: string;
  subject: {
    commonName: string;
    organization?: string;
    organizationalUnit?: string;
    locality?: string;
    state?: string;
    country?: string;
  };
  sans: San[];
  keySpec: string;
  issuerType: string;
  providerAccountId: string | null;
  deployTargets: DeployTarget[];
  operationMode: 'managed' | 'monitored';
  processMode: 'interactive' | 'unattended';
  renewalLeadDays: number;
  trustedCaSetId: string | null;
  clonedFromId: string | null;
  createdAt: string;
  updatedAt: string;
}

/** The fields the console's definition form edits (deploy targets: components/deploy-targets-editor.tsx). */
export type DefinitionInput = Pick<
  Definition,
  | 'name'
  | 'deployTargets'
  | 'subject'
  | 'sans'
  | 'keySpec'
  | 'issuerType'
  | 'providerAccountId'
  | 'operationMode'
  | 'processMode'
  | 'renewalLeadDays'
  | 'trustedCaSetId'
>;

export function getDefinition(id: string): Promise<Definition> {
  return call('GET', `/api/v1/definitions/${encodeURIComponent(id)}`);
}

export function createDefinition(input: DefinitionInput): Promise<Definition> {
  return call('POST', '/api/v1/definitions', input);
}

export function updateDefinition(id: string, patch: Partial<DefinitionInput>): Promise<Definition> {
  return call('PATCH', `/api/v1/definitions/${encodeURIComponent(id)}`, patch);
}

export function cloneDefinition(id: string, name: string): Promise<Definition> {
  return call('POST', `/api/v1/definitions/${encodeURIComponent(id)}/clone`, { name });
}

export function listDefinitionCertificates(definitionId: string): Promise<Page<CertificateRow>> {
  return call('GET', withQuery('/api/v1/certificates', { definitionId, limit: 100 }));
}

export interface ImportInput {
  mode: 'managed' | 'monitored';
  /** base64 of the file's bytes */
  file: string;
  fileName?: string;
  key?: string;
  chain?: string;
  password?: string;
  keyPassword?: string;
  name?: string;
}

export interface ImportAnswer {
  definition: Definition;
  certificate: CertificateRow;
  privateKeyId: string | null;
  redeployable: boolean;
  format: string;
}

export function importCertificate(input: ImportInput): Promise<ImportAnswer> {
  return call('POST', '/api/v1/imports', input);
}

// ---- W2 requests and acquisition processes ----------------------------------------------------------------------

export interface RequestRow {
  id: string;
  definitionId: string;
  kind: string;
  status: string;
  waitingFor: string | null;
  resumeStatus: string | null;
  processMode: 'interactive' | 'unattended';
  awaitingConfirmation: boolean;
  lastError: string | null;
  attempts: number;
  nextAttemptAt: string | null;
  certificateId: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface DueRenewalRow {
  definitionId: string;
  definitionName: string;
  processMode: 'interactive' | 'unattended';
  certificateId: string;
  notAfter: string;
  renewalLeadDays: number;
  daysLeft: number;
}

export function listRequests(definitionId?: string): Promise<{ items: RequestRow[] }> {
  return call('GET', withQuery('/api/v1/requests', { definitionId }));
}

export function listDueRenewals(): Promise<{ items: DueRenewalRow[] }> {
  return call('GET', '/api/v1/renewals/due');
}

/** What starting, confirming or resuming a process did: the request now, and why it stopped. */
export interface RunResult {
  request: RequestRow;
  stoppedBecause: string;
  steps: unknown[];
}

export function startAcquisition(definitionId: string): Promise<RunResult> {
  return call('POST', '/api/v1/requests', { definitionId });
}

export function confirmStep(id: string): Promise<RunResult> {
  return call('POST', `/api/v1/requests/${encodeURIComponent(id)}/confirm`);
}

export function resumeRequest(id: string): Promise<RunResult> {
  return call('POST', `/api/v1/requests/${encodeURIComponent(id)}/resume`, {});
}

// ---- W4 provider accounts ---------------------------------------------------------------------------------------

export interface ProviderAccountRow {
  id: string;
  name: string;
  vendor: string;
  url: string | null;
  username: string | null;
  email: string | null;
  hasPassword: boolean;
  notes: string | null;
  updatedAt: string;
}

export interface ProviderAccountInput {
  name: string;
  vendor: string;
  url: string | null;
  username: string | null;
  email: string | null;
  /** Write-only; omitted keeps the stored one. */
  password?: string | null;
  notes: string | null;
}

export function listProviderAccounts(): Promise<{ items: ProviderAccountRow[] }> {
  return call('GET', '/api/v1/provider-accounts');
}

export function createProviderAccount(input: ProviderAccountInput): Promise<ProviderAccountRow> {
  return call('POST', '/api/v1/provider-accounts', input);
}

export function updateProviderAccount(id: string, input: Partial<ProviderAccountInput>): Promise<ProviderAccountRow> {
  return call('PATCH', `/api/v1/provider-accounts/${encodeURIComponent(id)}`, input);
}

// ---- W5 private keys --------------------------------------------------------------------------------------------

export interface PrivateKeyRow {
  id: string;
  algorithm: string;
  publicKeySha256: string;
  exportable: boolean;
  label: string | null;
  createdAt: string;
}

export function listPrivateKeys(query: { limit?: number; offset?: number }): Promise<Page<PrivateKeyRow>> {
  return call('GET', withQuery('/api/v1/private-keys', query));
}

export function exportPrivateKey(
  id: string,
  input: { password: string; reason: string; format: 'pkcs8-pem' | 'pkcs8-encrypted-pem'; passphrase?: string }
): Promise<{ format: string; pem: string }> {
  // A wrongly re-entered password answers 401 (CF_UNAUTHORIZED): shown at the password field, not a logout.
  return call('POST', `/api/v1/private-keys/${encodeURIComponent(id)}/export`, input, { quiet401: true });
}

// ---- W7 sent mail -----------------------------------------------------------------------------------------------

export interface SentMailRow {
  id: string;
  at: string;
  template: string;
  to: string[];
  subject: string;
  status: 'sent' | 'failed';
  error: string | null;
}

export function listSentMail(query: { status?: string; limit?: number; offset?: number }): Promise<Page<SentMailRow>> {
  return call('GET', withQuery('/api/v1/sent-mail', query));
}

// ---- W9 trusted CA sets -----------------------------------------------------------------------------------------

export interface TrustSetRow {
  id: string;
  name: string;
  description: string | null;
  source: 'system' | 'user';
  version: string;
  roots: Array<{ sha256: string; subject: string; notAfter: string | null }>;
}

export function listTrustSets(): Promise<TrustSetRow[]> {
  return call('GET', '/api/v1/trust-sets');
}

export function createTrustSet(input: {
  name: string;
  description: string | null;
  pem?: string;
}): Promise<TrustSetRow> {
  return call('POST', '/api/v1/trust-sets', input);
}

// ---- W10 private CA ---------------------------------------------------------------------------------------------

export interface CaRow {
  id: string;
  name: string;
  kind: 'root' | 'subordinate';
  status: 'pending' | 'active' | 'retired';
  subject: string;
  serial: string | null;
  notBefore: string | null;
  notAfter: string | null;
  keyAlgorithm: string | null;
  sha256: string | null;
  crlNumber: number;
  issued: number;
  revoked: number;
}

export function listCas(): Promise<{ items: CaRow[] }> {
  return call('GET', '/api/v1/ca');
}

/** Public PKI objects of a CA (no session needed). */
export function caDownloadUrls(caId: string): { pem: string; der: string; crl: string; installer: string } {
  const id = encodeURIComponent(caId);
  return {
    pem: `/pki/${id}/ca.pem`,
    der: `/pki/${id}/ca.crt`,
    crl: `/pki/${id}/crl`,
    installer: `/api/v1/ca/${id}/trust-installer.sh`,
  };
}

/** Issues a client certificate as a password-protected PKCS#12 file (binary answer). */
export async function issueClientCertificate(input: {
  username: string;
  password: string;
  validityDays: number;
}): Promise<{ blob: Blob; fileName: string; serial: string; sha256: string }> {
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/x-pkcs12' };
  if (csrfToken) headers['x-csrf-token'] = csrfToken;
  if (bearerToken) headers.authorization = `Bearer ${bearerToken}`;
  const res = await fetch('/api/v1/ca/client-certificates', {
    method: 'POST',
    headers,
    credentials: 'same-origin',
    body: JSON.stringify(input),
  }).catch(() => {
    throw new ApiError(0, 'CF_NETWORK', 'The controller cannot be reached. Check the connection and try again.');
  });
  if (!res.ok) {
    const json = (await res.json().catch(() => null)) as {
      error?: { code?: string; message?: string; details?: Record<string, unknown> };
    } | null;
    if (res.status === 401) for (const l of unauthorizedListeners) l();
    throw new ApiError(
      res.status,
      json?.error?.code ?? `HTTP_${res.status}`,
      json?.error?.message ?? `issuing the client certificate failed with HTTP ${res.status}`,
      json?.error?.details
    );
  }
  const disposition = res.headers.get('content-disposition') ?? '';
  return {
    blob: await res.blob(),
    fileName: /filename="([^"]+)"/.exec(disposition)?.[1] ?? 'client.p12',
    serial: res.headers.get('x-certfleet-serial') ?? '',
    sha256: res.headers.get('x-certfleet-sha256') ?? '',
  };
}

// ---- W11 settings: SMTP + test mail, users, IP allow-list, client-certificate login (admin only) -----------------

export interface SmtpSettingsView {
  configured: boolean;
  fromAddress?: string;
  fromName?: string;
  host?: string;
  port?: number;
  security?: 'none' | 'starttls' | 'tls';
  username?: string | null;
  hasPassword?: boolean;
  adminEmail?: string;
  rejectUnauthorized?: boolean;
  caPem?: string | null;
  updatedAt?: string;
}

export interface SmtpSettingsInput {
  fromAddress: string;
  fromName: string;
  host: string;
  port: number;
  security: 'none' | 'starttls' | 'tls';
  adminEmail: string;
  rejectUnauthorized: boolean;
  username?: string;
  /** Write-only: omitted keeps the stored password, null removes it. */
  password?: string | null;
  caPem?: string;
}

export function getSmtpSettings(): Promise<SmtpSettingsView> {
  return call('GET', '/api/v1/settings/smtp');
}

export function saveSmtpSettings(input: SmtpSettingsInput): Promise<SmtpSettingsView> {
  return call('PUT', '/api/v1/settings/smtp', input);
}

/** Sends a test mail (to the administrator unless `to` is given); answers the sent-mail record. */
export function sendTestMail(to?: string): Promise<SentMailRow> {
  return call('POST', '/api/v1/settings/smtp/test', to ? { to } : {});
}

export interface UserRow {
  username: string;
  role: 'admin' | 'user';
  mustChangePassword: boolean;
  createdAt: string;
  updatedAt: string;
}

export function listUsers(): Promise<{ items: UserRow[] }> {
  return call('GET', '/api/v1/users');
}

/** Creates a user; the generated password is in the answer once. */
export function createUser(input: { username: string; role: 'admin' | 'user' }): Promise<{
  user: UserRow;
  password: string;
}> {
  return call('POST', '/api/v1/users', input);
}

export function changeUserRole(username: string, role: 'admin' | 'user'): Promise<UserRow> {
  return call('PATCH', `/api/v1/users/${encodeURIComponent(username)}`, { role });
}

/** Resets a password to a generated one (in the answer once). */
export function resetUserPassword(username: string): Promise<{ user?: UserRow; password: string }> {
  return call('POST', `/api/v1/users/${encodeURIComponent(username)}/reset-password`);
}

export function deleteUser(username: string): Promise<void> {
  return call('DELETE', `/api/v1/users/${encodeURIComponent(username)}`);
}

export interface IpAllowListView {
  cidrs: string[];
  updatedAt: string | null;
  /** The caller's address as the controller sees it (GET only). */
  clientAddress?: string;
  rejectedRequests?: number;
}

export function getIpAllowList(): Promise<IpAllowListView> {
  return call('GET', '/api/v1/settings/ip-allow-list');
}

export function saveIpAllowList(cidrs: string[], force: boolean): Promise<IpAllowListView> {
  return call('PUT', '/api/v1/settings/ip-allow-list', { cidrs, force });
}

export interface ClientCertLoginView {
  enabled: boolean;
  thumbprints: string[];
  presentedCertificate?: { subject: string; sha1: string; sha256: string; notAfter: string } | null;
}

export function getClientCertLogin(): Promise<ClientCertLoginView> {
  return call('GET', '/api/v1/settings/client-cert-login');
}

export function saveClientCertLogin(input: {
  enabled: boolean;
  thumbprints: string[];
  force: boolean;
}): Promise<ClientCertLoginView> {
  return call('PUT', '/api/v1/settings/client-cert-login', input);
}

// ---- W8 discovery -----------------------------------------------------------------------------------------------

export type ScanStatus = 'queued' | 'running' | 'done' | 'failed' | 'cancelled' | 'interrupted';

export interface ScanRow {
  id: string;
  status: ScanStatus;
  runBy: { kind: 'controller' } | { kind: 'agent'; agentId: string };
  targets: string[];
  ports: string[];
  total: number;
  done: number;
  findings: number;
  percent: number;
  error: string | null;
  createdBy: string;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface ScanInput {
  targets: string[];
  ports?: Array<number | string>;
  runBy: { kind: 'controller' } | { kind: 'agent'; agentId: string };
  timeoutMs?: number;
  handshakeTimeoutMs?: number;
}

export interface FindingRow {
  id: string;
  host: string;
  port: number;
  starttls: string | null;
  serverName: string | null;
  sha256: string;
  commonName: string | null;
  subject: string;
  issuer: string;
  notAfter: string | null;
  daysToExpiry: number | null;
  validity: string;
  trusted: boolean;
  selfSigned: boolean;
  status: string;
  reason: string;
  message: string;
}

export interface ScanReport {
  scan: ScanRow;
  summary: Record<string, number>;
  findings: FindingRow[];
}

export interface ImportFindingsAnswer {
  scanId: string;
  mode: 'monitored' | 'managed';
  imported: Array<{ sha256: string; definitionId: string; definitionName: string; endpoints: unknown[] }>;
  duplicates: Array<{ sha256: string; definitionId: string }>;
  rejected: Array<{ sha256: string; problems: string[]; endpoints: Array<{ host: string; port: number }> }>;
}

export function startScan(input: ScanInput): Promise<ScanRow> {
  return call('POST', '/api/v1/discovery/scans', input);
}

export function listScans(limit = 20): Promise<ScanRow[]> {
  return call('GET', withQuery('/api/v1/discovery/scans', { limit }));
}

export function getScan(id: string): Promise<ScanRow> {
  return call('GET', `/api/v1/discovery/scans/${encodeURIComponent(id)}`);
}

export function cancelScan(id: string): Promise<ScanRow> {
  return call('POST', `/api/v1/discovery/scans/${encodeURIComponent(id)}/cancel`);
}

export function getScanReport(id: string, limit = 1000): Promise<ScanReport> {
  return call('GET', withQuery(`/api/v1/discovery/scans/${encodeURIComponent(id)}/report`, { limit }));
}

/** Report downloads (open with the cookie session). */
export function scanReportUrls(id: string): { json: string; csv: string; html: string } {
  const base = `/api/v1/discovery/scans/${encodeURIComponent(id)}/report`;
  return { json: base, csv: `${base}.csv`, html: `${base}.html` };
}

export function importScanFindings(
  id: string,
  findingIds: string[] | 'all',
  mode: 'monitored' | 'managed'
): Promise<ImportFindingsAnswer> {
  return call('POST', `/api/v1/discovery/scans/${encodeURIComponent(id)}/import`, { findingIds, mode });
}
