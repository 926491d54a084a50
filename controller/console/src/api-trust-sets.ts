/** W9 trusted CA sets (SPEC T1, T2): adding and removing roots, deleting a user-defined set. */
import { apiCall, type TrustSetRow } from './api';

export function addTrustSetRoots(id: string, pem: string): Promise<TrustSetRow & { added: number }> {
  return apiCall('POST', `/api/v1/trust-sets/${encodeURIComponent(id)}/roots`, { pem });
}

export function removeTrustSetRoot(id: string, sha256: string): Promise<TrustSetRow> {
  return apiCall('DELETE', `/api/v1/trust-sets/${encodeURIComponent(id)}/roots/${encodeURIComponent(sha256)}`);
}

export function deleteTrustSet(id: string): Promise<void> {
  return apiCall('DELETE', `/api/v1/trust-sets/${encodeURIComponent(id)}`);
}
