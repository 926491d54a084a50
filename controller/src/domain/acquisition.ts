import type { RequestStatus } from './request';

/**
 * The acquisition process as an explicit state machine (SPEC O2, A4; manual §2.2):
 * key → CSR → order → issued → received → verified → made current.
 *
 * Pure: which step runs from which status, and where it leads. The service executes steps; this file decides.
 */
export type AcquisitionStep =
  'generate-key' | 'create-csr' | 'order' | 'poll-order' | 'receive' | 'verify' | 'make-current';

/** The step that runs next from `status`, or null when nothing can run (terminal, or waiting for the operator). */
export function nextStep(status: RequestStatus): AcquisitionStep | null {
  switch (status) {
    case 'created':
      return 'generate-key';
    case 'key-generated':
      return 'create-csr';
    case 'csr-created':
      return 'order';
    case 'ordered':
      return 'poll-order';
    case 'issued':
      return 'receive';
    case 'received':
      return 'verify';
    case 'verified':
      return 'make-current';
    case 'waiting':
    case 'completed':
    case 'cancelled':
    case 'failed':
      return null;
  }
}

/** The status a successful step leads to (`order`/`poll-order` may also stay at `ordered` while the CA works). */
export const stepResult: Record<AcquisitionStep, RequestStatus> = {
  'generate-key': 'key-generated',
  'create-csr': 'csr-created',
  order: 'issued',
  'poll-order': 'issued',
  receive: 'received',
  verify: 'verified',
  'make-current': 'completed',
};

/** Retry delay after the n-th retryable failure: 30 s doubling, capped at one hour, ±20 % jitter. */
export function retryDelayMs(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(30_000 * 2 ** Math.max(0, attempt - 1), 3_600_000);
  return Math.round(base * (0.8 + 0.4 * random()));
}

/** After this many retryable failures in a row the process stops in `waiting` and tells the administrator. */
export const MAX_RETRYABLE_ATTEMPTS = 6;

/** Whether a definition's current certificate is inside its renewal lead time (SPEC A5). */
export function isRenewalDue(notAfter: Date, renewalLeadDays: number, now: Date): boolean {
  return notAfter.getTime() - renewalLeadDays * 86_400_000 <= now.getTime();
}

/** A delay in [0, windowMs) derived from the definition id, so renewals of many certificates spread out (SPEC A5). */
export function renewalJitterMs(definitionId: string, windowMs: number): number {
  if (windowMs <= 0) return 0;
  let h = 2166136261;
  for (const ch of definitionId) h = Math.imul(h ^ ch.charCodeAt(0), 16777619) >>> 0;
  return h % windowMs;
}
