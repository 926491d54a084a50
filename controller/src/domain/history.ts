/** Histories (SPEC R8): append-only records of purchases, deployments, monitoring runs and audit events. */
export interface PurchaseRecord {
  id: string;
  definitionId: string;
  requestId: string | null;
  vendor: string | null;
  productId: string | null;
  orderNumber: string | null;
  orderDate: Date | null;
  note: string | null;
  at: Date;
}

export interface DeploymentRecord {
  id: string;
  certificateId: string;
  target: string;
  status: 'pending' | 'installed' | 'verified' | 'failed' | 'rolled-back';
  message: string | null;
  at: Date;
}

export interface MonitoringRecord {
  id: string;
  definitionId: string;
  certificateId: string | null;
  endpoint: string;
  status: 'ok' | 'warning' | 'failing';
  reason: string;
  message: string | null;
  at: Date;
  /** The run this result belongs to (null for results recorded before runs existed, or deploy checks by hand). */
  runId?: string | null;
  endpointId?: string | null;
  leafSha256?: string | null;
  leafSha1?: string | null;
  leafNotAfter?: Date | null;
  /** `controller` or `agent:<id>`. */
  probedBy?: string | null;
  /** Every check of the chain: `[{code, status, message}]`. */
  checks?: Array<{ code: string; status: string; message: string }> | null;
}

/** An audit event (SPEC U5). `details` must never carry secrets. */
export interface AuditEvent {
  id: string;
  at: Date;
  actor: string;
  action: string;
  targetType: string | null;
  targetId: string | null;
  details: Record<string, unknown>;
  prevHash: string;
  hash: string;
}
