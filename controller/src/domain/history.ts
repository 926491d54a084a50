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
