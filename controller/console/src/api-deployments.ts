/**
 * W3 deployment processes (SPEC D2, D3, D4, D6): the paged deployment list with each deployment's latest check
 * result, "check now", manual completion / "continue without check", offline receipts, and the two downloads that
 * carry a private key (offline installer bundle, manual package — permission keys:export).
 */
import { apiCall, apiFetch, apiQuery, type DeploymentRow, type Page } from './api';

export interface LatestCheck {
  endpoint: string;
  status: 'ok' | 'warning' | 'failing';
  reason: string;
  message: string | null;
  at: string;
  probedBy: string | null;
  runId: string | null;
}

export interface DeploymentListRow extends DeploymentRow {
  slot: string;
  version: number;
  agentId: string | null;
  bundleId: string;
  servedSha256: string | null;
  receiptAt: string | null;
  createdAt: string;
  createdBy: string;
  checkEndpoint: string;
  latestCheck: LatestCheck | null;
}

export function listDeploymentPage(query: {
  certificateId?: string;
  limit: number;
  offset: number;
}): Promise<Page<DeploymentListRow>> {
  return apiCall('GET', apiQuery('/api/v1/deployments', query));
}

export interface DeployCheckAnswer {
  deployment: DeploymentRow;
  runId: string;
  result: { endpoint: string; status: string; reason: string; message: string; probedBy?: string };
}

/** "Check now" (D6): probes the deployment's endpoint; answers when the check is done. */
export function checkDeployment(id: string): Promise<DeployCheckAnswer> {
  return apiCall('POST', `/api/v1/deployments/${encodeURIComponent(id)}/check`, {});
}

/** Manual completion with a note (verified), or "continue without check" (installed, audited as skipped). */
export function completeCheckManually(id: string, note: string, withoutCheck: boolean): Promise<DeploymentRow> {
  return apiCall('POST', `/api/v1/deployments/${encodeURIComponent(id)}/check/manual`, { note, withoutCheck });
}

/**
 * Uploads an offline receipt file's text as it is (the controller parses it, so a file that is not JSON gets the
 * controller's typed error).
 */
export async function uploadReceipt(id: string, fileText: string): Promise<DeploymentRow> {
  const res = await apiFetch('POST', `/api/v1/deployments/${encodeURIComponent(id)}/receipt`, { body: fileText });
  return (await res.json()) as DeploymentRow;
}

export interface OfflineBundleDownload {
  blob: Blob;
  fileName: string;
  /** Shown once: the controller keeps no copy. */
  passphrase: string;
  deploymentId: string;
  signingKeySha256: string;
}

function fileNameOf(res: Response, fallback: string): string {
  return /filename="([^"]+)"/.exec(res.headers.get('content-disposition') ?? '')?.[1] ?? fallback;
}

/** D3: the offline installer archive (tar.gz) for one deploy target; the passphrase comes in a header. */
export async function downloadOfflineBundle(
  certificateId: string,
  targetIndex: number
): Promise<OfflineBundleDownload> {
  const res = await apiFetch('POST', `/api/v1/certificates/${encodeURIComponent(certificateId)}/offline-bundles`, {
    body: { targetIndex },
    accept: 'application/gzip',
  });
  return {
    blob: await res.blob(),
    fileName: fileNameOf(res, 'certfleet-offline.tar.gz'),
    passphrase: res.headers.get('x-certfleet-passphrase') ?? '',
    deploymentId: res.headers.get('x-certfleet-deployment-id') ?? '',
    signingKeySha256: res.headers.get('x-certfleet-signing-key-sha256') ?? '',
  };
}

export const MANUAL_SERVER_TYPES = [
  'nginx',
  'apache',
  'haproxy',
  'postfix',
  'dovecot',
  'java-keystore',
  'file',
  'iis-or-other',
] as const;

/** D4: the manual package (ZIP); `passphrase` protects the key inside, `password` is the caller's login password. */
export async function downloadManualPackage(
  certificateId: string,
  input: { serverType: string; passphrase: string; password: string }
): Promise<{ blob: Blob; fileName: string }> {
  const res = await apiFetch('POST', `/api/v1/certificates/${encodeURIComponent(certificateId)}/manual-package`, {
    body: input,
    accept: 'application/zip',
    // A wrongly re-entered password answers 401 (CF_UNAUTHORIZED): shown at the password field, not a logout.
    quiet401: true,
  });
  return { blob: await res.blob(), fileName: fileNameOf(res, 'manual-package.zip') };
}
