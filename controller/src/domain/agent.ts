/**
 * Agents (SPEC G1–G5): enrolled hosts that hold a mutual-TLS stream to the controller, install sealed bundles and
 * probe endpoints. Pure types and policies; storage and transport live elsewhere.
 */
export type AgentStatus = 'active' | 'banned';

export interface Agent {
  id: string;
  /** The host name the agent reported at enrollment. */
  name: string;
  status: AgentStatus;
  /** age X25519 recipient (`age1…`) the controller seals this agent's bundles to. */
  bundlePublicKey: string;
  /** Serial (upper-case hex) of the agent certificate in use. */
  certSerial: string;
  certNotAfter: Date;
  /** Serial of a just-issued (renewed) certificate not yet used; accepted alongside `certSerial` (SPIRE's rule). */
  nextCertSerial: string | null;
  agentVersion: string;
  enrolledAt: Date;
  lastSeenAt: Date | null;
  bannedAt: Date | null;
  /** Site label (SPEC M4): endpoints probed by "any agent of a site" go to connected agents with this label. */
  site: string | null;
}

export interface JoinToken {
  id: string;
  /** SHA-256 (hex) of the token; the token itself is shown once and never stored. */
  tokenHash: string;
  label: string | null;
  createdBy: string;
  createdAt: Date;
  expiresAt: Date;
  usedAt: Date | null;
  agentId: string | null;
  /** Site label given to the agent that enrolls with this token. */
  site: string | null;
}

export const JOIN_TOKEN_DEFAULT_TTL_MS = 60 * 60 * 1000;
export const JOIN_TOKEN_MAX_TTL_MS = 24 * 60 * 60 * 1000;
export const AGENT_CERT_DEFAULT_DAYS = 7;

/** Which serial a presented agent certificate matches, or why it is refused. */
export type SerialCheck =
  { ok: true; rotated: boolean } | { ok: false; reason: 'AgentBanned' | 'AgentSerialNotPinned' };

/**
 * SPIRE's pinning rule: the current serial or the just-issued one is accepted; the first use of the just-issued
 * serial makes it current (`rotated: true`), after which the old serial is refused.
 */
export function checkAgentSerial(
  agent: Pick<Agent, 'status' | 'certSerial' | 'nextCertSerial'>,
  presented: string
): SerialCheck {
  if (agent.status === 'banned') return { ok: false, reason: 'AgentBanned' };
  const serial = normalizeSerial(presented);
  if (serial === normalizeSerial(agent.certSerial)) return { ok: true, rotated: false };
  if (agent.nextCertSerial && serial === normalizeSerial(agent.nextCertSerial)) return { ok: true, rotated: true };
  return { ok: false, reason: 'AgentSerialNotPinned' };
}

/** Upper-case hex without leading zeros or colons (Node and @peculiar/x509 spell serials differently). */
export function normalizeSerial(serial: string): string {
  return serial
    .replace(/:/g, '')
    .toUpperCase()
    .replace(/^0+(?=.)/, '');
}

export type JobKind = 'install' | 'probe' | 'inventory' | 'scan';
export type JobStatus = 'pending' | 'delivered' | 'done' | 'superseded';

export interface AgentJob {
  id: string;
  agentId: string;
  deploymentId: string | null;
  kind: JobKind;
  /** Install jobs: the target slot; a newer job for the same slot supersedes an undelivered or unfinished older one. */
  slot: string | null;
  /** Install: the sealed bundle; probe/inventory/scan: UTF-8 JSON. */
  payload: Buffer;
  status: JobStatus;
  attempts: number;
  result: Record<string, unknown> | null;
  createdAt: Date;
  deliveredAt: Date | null;
  finishedAt: Date | null;
}

export type DeploymentMethod = 'agent' | 'offline' | 'manual';
export type DeploymentStatus =
  'pending' | 'installing' | 'installed' | 'verified' | 'failed' | 'rolled-back' | 'superseded';

export interface Deployment {
  id: string;
  certificateId: string;
  definitionId: string;
  slot: string;
  version: number;
  /** The deploy target as configured on the definition when the deployment was made. */
  target: Record<string, unknown>;
  method: DeploymentMethod;
  agentId: string | null;
  bundleId: string;
  status: DeploymentStatus;
  reason: string | null;
  message: string | null;
  servedSha256: string | null;
  /** Offline bundles: Ed25519 SPKI PEM of the receipt key carried in the bundle. */
  receiptPublicKey: string | null;
  receiptAt: Date | null;
  createdBy: string;
  createdAt: Date;
  updatedAt: Date;
}
