/** W11 audit log (SPEC U5, R8): the paged, filtered list and the chain check. */
import { apiCall, apiQuery, type Page } from './api';

export interface AuditEventRow {
  id: string;
  at: string;
  actor: string;
  action: string;
  targetType: string | null;
  targetId: string | null;
  details: Record<string, unknown>;
  hash: string;
}

export interface AuditQuery {
  limit: number;
  offset: number;
  action?: string;
  actor?: string;
  from?: string;
  to?: string;
}

export function listAudit(q: AuditQuery): Promise<Page<AuditEventRow>> {
  return apiCall('GET', apiQuery('/api/v1/audit', { ...q }));
}

export interface AuditChainCheck {
  ok: boolean;
  rows: number;
  firstBrokenId?: string;
  reason?: string;
  checkedAt: string;
}

export function verifyAudit(): Promise<AuditChainCheck> {
  return apiCall('GET', '/api/v1/audit/verify');
}
