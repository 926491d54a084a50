/**
 * Certificate Request (SPEC R2): one acquisition process for a definition, new or renewal, with its status history.
 * A renewal may change product or vendor and is still the definition's renewal (§2.10).
 */
export const requestKinds = ['new', 'renewal'] as const;
export type RequestKind = (typeof requestKinds)[number];

/** Acquisition states (the full state machine lands with the acquisition issue; these are its stable names). */
export const requestStatuses = [
  'created',
  'key-generated',
  'csr-created',
  'ordered',
  'issued',
  'received',
  'verified',
  'completed',
  'waiting',
  'cancelled',
  'failed',
] as const;
export type RequestStatus = (typeof requestStatuses)[number];

export interface CertificateRequest {
  id: string;
  definitionId: string;
  kind: RequestKind;
  status: RequestStatus;
  privateKeyId: string | null;
  csrPem: string | null;
  productId: string | null;
  providerAccountId: string | null;
  orderNumber: string | null;
  orderDate: Date | null;
  waitingFor: string | null;
  /** While `waiting`: the status the process resumes at. */
  resumeStatus: RequestStatus | null;
  /** How this process runs; taken from the definition at start, switchable on resume (SPEC O2). */
  processMode: 'interactive' | 'unattended';
  /** Interactive mode: the next step waits for an operator confirmation. */
  awaitingConfirmation: boolean;
  /** The last error, with whether retrying can help. */
  lastError: string | null;
  attempts: number;
  /** Pending orders (slow CAs) are polled at this time. */
  nextAttemptAt: Date | null;
  /** Issuer-specific state of a pending order (e.g. ACME order URL). Never secrets. */
  issuerState: Record<string, unknown> | null;
  /** The certificate received for this request. */
  certificateId: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface RequestStatusChange {
  id: string;
  requestId: string;
  fromStatus: RequestStatus | null;
  toStatus: RequestStatus;
  note: string | null;
  actor: string;
  at: Date;
}

const terminal: ReadonlySet<RequestStatus> = new Set(['completed', 'cancelled', 'failed']);
/** True when no further status change is allowed. */
export function isTerminal(status: RequestStatus): boolean {
  return terminal.has(status);
}

/** The kind of a new request for a definition: renewal once the definition has ever had a certificate. */
export function nextRequestKind(hasHadCertificate: boolean): RequestKind {
  return hasHadCertificate ? 'renewal' : 'new';
}
