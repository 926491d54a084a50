import type { z } from 'zod';
import type { KeySpec } from '@certfleet/shared';
import type { San, Subject } from '../domain/definition';
import type { ServiceContext } from '../services/context';
import type { ChallengeResponder } from './acme/http01-responder';

/**
 * Issuers (CA connectors, SPEC A2; STYLE §7.3): a small required interface, optional capabilities, a declared
 * config schema, and an explicit registry (registry.ts). An issuer never touches requests or definitions itself:
 * it gets a CSR and the definition's requirement and answers `issued` or `pending`.
 */
export interface IssueRequest {
  /** The acquisition request this issuance belongs to. */
  requestId: string;
  definitionId: string;
  /** PKCS#10 PEM. Issuers take ONLY the public key from it; every other field comes from `subject`/`sans`. */
  csrPem: string;
  subject: Subject;
  sans: San[];
  keySpec: KeySpec;
  /** Requested lifetime; the issuer may cap it. */
  validityDays: number;
}

/** What an issuer answers. `pending` orders are polled at `retryAfter` (slow CAs, manual orders). */
export type IssueOutcome =
  | { kind: 'issued'; leafPem: string; chainPem: string[]; externalId?: string }
  | {
      kind: 'pending';
      /** Issuer-specific, JSON-serialisable, no secrets: stored on the request and handed back to `poll`. */
      state: Record<string, unknown>;
      retryAfter: Date;
      /** Human text naming what is awaited (e.g. "certificate upload from the vendor"). */
      waitingFor: string;
    };

/** Failures are CertFleetErrors with `retryable` saying whether trying again later can help (cert-manager's rule). */
export interface Issuer {
  /** Signs/orders a certificate for the CSR. MUST NOT read anything but the public key from the CSR. */
  issue(req: IssueRequest, signal: AbortSignal): Promise<IssueOutcome>;
  /** Optional: continues a pending order. */
  poll?(req: IssueRequest, state: Record<string, unknown>, signal: AbortSignal): Promise<IssueOutcome>;
}

export interface IssuerDeps {
  ctx: ServiceContext;
  /**
   * ACME HTTP-01: who publishes key authorizations — the controller's standalone responder (or, later, an agent on
   * the target host). Absent when the controller runs no responder; http-01 issuance then fails with a clear error.
   */
  http01Responder?: ChallengeResponder;
}

export interface IssuerDefinition<C> {
  /** Registry key, DB `issuer_type` value and UI key. */
  type: string;
  title: string;
  /** The definition's `issuerConfig` is parsed with this (`.describe()` feeds UI help). */
  config: z.ZodType<C>;
  create(config: C, deps: IssuerDeps): Issuer;
}
