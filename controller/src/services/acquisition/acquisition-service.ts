import crypto, { X509Certificate } from 'node:crypto';
import { LockMode } from '@mikro-orm/core';
import { z } from 'zod';
import {
  buildChain,
  certificatesFromPems,
  CertFleetError,
  generateKeyPair,
  isCertFleetError,
  summarizeCertificate,
  type KeySpec,
} from '@certfleet/shared';
import {
  MAX_RETRYABLE_ATTEMPTS,
  nextStep,
  retryDelayMs,
  stepResult,
  type AcquisitionStep,
} from '../../domain/acquisition';
import type { CertificateDefinition } from '../../domain/definition';
import { isTerminal, type CertificateRequest, type RequestStatus } from '../../domain/request';
import { createCsr } from '../../issuers/internal-ca/csr';
import type { ChallengeResponder } from '../../issuers/acme/http01-responder';
import type { IssueOutcome, IssueRequest } from '../../issuers/issuer';
import { findIssuer, type RegisteredIssuer } from '../../issuers/registry';
import { openPrivateKey, publicKeySha256, storePrivateKey } from '../../secrets/key-vault';
import type { Em } from '../../storage/database';
import {
  CaIssuanceEntity,
  DefinitionEntity,
  PurchaseHistoryEntity,
  RequestEntity,
  RequestStatusChangeEntity,
} from '../../storage/entities';
import { appendAudit } from '../audit-service';
import { certificateFromSummary, insertCertificate } from '../certificate-service';
import type { Actor, ServiceContext } from '../context';
import { parseInput } from '../definition-service';
import { createRequest, getRequest } from '../request-service';
import { knownIntermediates, privateCaRoots, publicTrustedRoots } from './known-certificates';
import type { Notifier } from './notifier';

/** What the acquisition engine needs besides the service context: the issuer registry and a notifier. */
export interface AcquisitionDeps {
  issuers: readonly RegisteredIssuer[];
  notifier: Notifier;
  /** The controller's ACME HTTP-01 responder, when one runs (CERTFLEET_ACME_HTTP01_PORT). */
  http01Responder?: ChallengeResponder;
}

/** Why a run stopped. */
export type StopReason = 'completed' | 'pending' | 'waiting' | 'confirm' | 'busy' | 'limit';

export interface RunResult {
  request: CertificateRequest;
  stoppedBecause: StopReason;
  steps: AcquisitionStep[];
}

export const startAcquisitionSchema = z
  .object({
    definitionId: z.uuid(),
    processMode: z.enum(['interactive', 'unattended']).optional().describe("defaults to the definition's process mode"),
    privateKeyId: z.uuid().optional().describe('reuse an existing private key object (SPEC A1)'),
    productId: z.string().min(1).max(100).optional(),
    providerAccountId: z.uuid().optional(),
  })
  .strict();

const pendingStatuses: ReadonlySet<RequestStatus> = new Set(['ordered']);

function history(
  em: Em,
  req: CertificateRequest,
  from: RequestStatus,
  to: RequestStatus,
  actor: Actor,
  note: string | null,
  now: Date
): void {
  em.persist(
    em.create(RequestStatusChangeEntity, {
      id: crypto.randomUUID(),
      requestId: req.id,
      fromStatus: from,
      toStatus: to,
      note,
      actor,
      at: now,
    })
  );
}

function issueRequestFor(req: CertificateRequest, def: CertificateDefinition): IssueRequest {
  if (!req.csrPem) throw new CertFleetError('CF_ACQUISITION_STATE', `acquisition: request ${req.id} has no CSR`);
  return {
    requestId: req.id,
    definitionId: def.id,
    csrPem: req.csrPem,
    subject: def.subject,
    sans: def.sans,
    keySpec: def.keySpec,
    validityDays: 397,
  };
}

function applyOutcome(req: CertificateRequest, outcome: IssueOutcome): RequestStatus {
  if (outcome.kind === 'issued') {
    req.issuerState = {
      leafPem: outcome.leafPem,
      chainPem: outcome.chainPem,
      ...(outcome.externalId ? { externalId: outcome.externalId } : {}),
    };
    req.nextAttemptAt = null;
    req.waitingFor = null;
    return 'issued';
  }
  req.issuerState = { pending: outcome.state };
  req.nextAttemptAt = outcome.retryAfter;
  req.waitingFor = outcome.waitingFor;
  return 'ordered';
}

/** Executes one step; returns the new status. Throws CertFleetError on failure (handled by the caller). */
async function executeStep(
  ctx: ServiceContext,
  deps: AcquisitionDeps,
  em: Em,
  req: CertificateRequest,
  def: CertificateDefinition,
  step: AcquisitionStep,
  actor: Actor
): Promise<RequestStatus> {
  const now = ctx.clock.now();
  const signal = AbortSignal.timeout(120_000);
  switch (step) {
    case 'generate-key': {
      if (req.privateKeyId) {
        await openPrivateKey(em, ctx.masterKey, req.privateKeyId); // reuse (SPEC A1): must exist and open
        return stepResult[step];
      }
      const pair = await generateKeyPair(def.keySpec as KeySpec);
      const key = await storePrivateKey(em, ctx.masterKey, crypto.createPrivateKey(pair.privateKeyPem), {
        algorithm: def.keySpec,
        label: def.name,
        now,
      });
      req.privateKeyId = key.id;
      return stepResult[step];
    }
    case 'create-csr': {
      const key = await openPrivateKey(em, ctx.masterKey, req.privateKeyId!);
      req.csrPem = await createCsr({
        privateKeyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString(),
        subject: def.subject,
        sans: def.sans.filter((s) => s.type === 'dns' || s.type === 'ip'),
      });
      return stepResult[step];
    }
    case 'order': {
      const issuer = findIssuer(deps.issuers, def.issuerType).create(def.issuerConfig, {
        ctx,
        ...(deps.http01Responder ? { http01Responder: deps.http01Responder } : {}),
      });
      return applyOutcome(req, await issuer.issue(issueRequestFor(req, def), signal));
    }
    case 'poll-order': {
      const issuer = findIssuer(deps.issuers, def.issuerType).create(def.issuerConfig, {
        ctx,
        ...(deps.http01Responder ? { http01Responder: deps.http01Responder } : {}),
      });
      if (!issuer.poll)
        throw new CertFleetError(
          'CF_ACQUISITION_STATE',
          `acquisition: issuer ${def.issuerType} cannot continue a pending order`
        );
      const state = (req.issuerState?.pending ?? {}) as Record<string, unknown>;
      return applyOutcome(req, await issuer.poll(issueRequestFor(req, def), state, signal));
    }
    case 'receive': {
      const leafPem = req.issuerState?.leafPem;
      if (typeof leafPem !== 'string')
        throw new CertFleetError('CF_ACQUISITION_STATE', 'acquisition: no certificate was received');
      const leaf = new X509Certificate(leafPem);
      const key = await openPrivateKey(em, ctx.masterKey, req.privateKeyId!);
      if (publicKeySha256(leaf.publicKey) !== publicKeySha256(key)) {
        throw new CertFleetError(
          'CF_IMPORT_KEY_MISMATCH',
          'acquisition: the received certificate does not match the request key; upload the certificate issued for this CSR'
        );
      }
      return stepResult[step];
    }
    case 'verify': {
      const leaf = new X509Certificate(req.issuerState!.leafPem as string);
      const given = ((req.issuerState!.chainPem as string[] | undefined) ?? []).join('\n');
      const candidates = [...(given ? [given] : [])];
      const pool = [...certificatesFromPems(candidates), ...(await knownIntermediates(em))];
      // Anchors: the public roots, our private CA roots, and roots the definition's issuer config names explicitly.
      const configured = (def.issuerConfig as { trustAnchorsPem?: unknown }).trustAnchorsPem;
      const extraRoots = typeof configured === 'string' ? certificatesFromPems([configured]) : [];
      const privateRoots = [...(await privateCaRoots(em)), ...extraRoots];
      const result = buildChain(leaf, pool, [...publicTrustedRoots(), ...privateRoots], now);
      if (!result.complete)
        throw new CertFleetError(
          'CF_ISSUER_REJECTED',
          `acquisition: chain cannot be verified: ${result.problem ?? 'unknown'}; upload the missing intermediate`
        );
      // Keep a private root in the stored chain (clients of a private PKI need it); public roots stay out.
      const anchor = result.anchorCertificate;
      const keepAnchor = anchor && privateRoots.some((r) => r.fingerprint256 === anchor.fingerprint256);
      req.issuerState = {
        ...req.issuerState,
        chainPem: [...result.chain, ...(keepAnchor ? [anchor] : [])].map((c) => c.toString()),
      };
      return stepResult[step];
    }
    case 'make-current': {
      const leafPem = req.issuerState!.leafPem as string;
      const s = summarizeCertificate(new X509Certificate(leafPem).raw);
      const cert = await insertCertificate(
        em,
        certificateFromSummary(s, {
          id: crypto.randomUUID(),
          definitionId: def.id,
          requestId: req.id,
          privateKeyId: req.privateKeyId,
          chainPem: (req.issuerState!.chainPem as string[]) ?? [],
          source: def.issuerType,
          createdAt: now,
        }),
        { makeCurrent: true, now }
      );
      req.certificateId = cert.id;
      await em.nativeUpdate(CaIssuanceEntity, { sha256: s.sha256 }, { certificateId: cert.id });
      if (def.issuerType !== 'internal-ca') {
        em.persist(
          em.create(PurchaseHistoryEntity, {
            id: crypto.randomUUID(),
            definitionId: def.id,
            requestId: req.id,
            vendor: null,
            productId: req.productId,
            orderNumber: req.orderNumber,
            orderDate: req.orderDate,
            note: `certificate ${s.sha256} received through ${def.issuerType}`,
            at: now,
          })
        );
      }
      await appendAudit(
        em,
        {
          actor,
          action: 'certificate.acquired',
          targetType: 'certificate',
          targetId: cert.id,
          details: { definitionId: def.id, requestId: req.id, issuer: def.issuerType, sha256: s.sha256 },
        },
        now
      );
      await deps.notifier.notify('certificate-issued', {
        definitionName: def.name,
        subject: s.subject,
        notAfter: s.notAfter,
        sha256: s.sha256,
        issuer: def.issuerType,
      });
      return stepResult[step];
    }
  }
}

interface StepOutcome {
  request: CertificateRequest;
  step: AcquisitionStep | null;
  progressed: boolean;
  stalled: { definitionName: string; message: string } | null;
}

/**
 * Runs the next step of a request under a row lock (NOWAIT: a request another worker holds is skipped with
 * `busy`). A retryable failure schedules a retry with backoff; any other failure — or too many retries — stops
 * the process in `waiting`, naming the error, and the administrator is told (SPEC O2).
 */
async function runOneStep(
  ctx: ServiceContext,
  deps: AcquisitionDeps,
  requestId: string,
  actor: Actor
): Promise<StepOutcome | 'busy'> {
  const outcome = await ctx.db.em().transactional(async (em): Promise<StepOutcome | 'busy'> => {
    let req: CertificateRequest | null;
    try {
      req = await em.findOne(RequestEntity, { id: requestId }, { lockMode: LockMode.PESSIMISTIC_WRITE_OR_FAIL });
    } catch (err) {
      // 55P03 lock_not_available: another worker holds this request (NOWAIT); anything else is a real failure.
      if ((err as { code?: string }).code !== '55P03') throw err;
      return 'busy';
    }
    if (!req) throw new CertFleetError('CF_NOT_FOUND', `acquisition: request ${requestId} not found`);
    const step = nextStep(req.status);
    if (!step) return { request: req, step: null, progressed: false, stalled: null };
    const def = await em.findOneOrFail(DefinitionEntity, { id: req.definitionId });
    const now = ctx.clock.now();
    const from = req.status;
    try {
      const to = await executeStep(ctx, deps, em, req, def, step, actor);
      req.status = to;
      req.attempts = 0;
      req.lastError = null;
      req.updatedAt = now;
      req.awaitingConfirmation = req.processMode === 'interactive' && !isTerminal(to) && !pendingStatuses.has(to);
      if (to !== from) history(em, req, from, to, actor, step, now);
      return { request: req, step, progressed: to !== from, stalled: null };
    } catch (err) {
      const e = isCertFleetError(err)
        ? err
        : new CertFleetError('CF_INTERNAL', `acquisition: ${(err as Error).message}`, { cause: err });
      req.attempts += 1;
      req.lastError = `${e.code}: ${e.message}`;
      req.updatedAt = now;
      if (e.retryable && req.attempts < MAX_RETRYABLE_ATTEMPTS) {
        req.nextAttemptAt = new Date(now.getTime() + retryDelayMs(req.attempts));
        return { request: req, step, progressed: false, stalled: null };
      }
      req.resumeStatus = from;
      req.status = 'waiting';
      req.waitingFor = `${step}: ${e.message}`;
      req.awaitingConfirmation = false;
      history(em, req, from, 'waiting', actor, req.waitingFor, now);
      await appendAudit(
        em,
        {
          actor,
          action: 'request.stalled',
          targetType: 'request',
          targetId: req.id,
          details: { step, code: e.code },
        },
        now
      );
      return {
        request: req,
        step,
        progressed: false,
        stalled: { definitionName: def.name, message: req.waitingFor },
      };
    }
  });
  if (outcome !== 'busy' && outcome.stalled) {
    await deps.notifier.notify('stalled-process', {
      definitionName: outcome.stalled.definitionName,
      requestId: outcome.request.id,
      step: outcome.step,
      waitingFor: outcome.stalled.message,
      resume: `POST /api/v1/requests/${outcome.request.id}/resume`,
    });
  }
  return outcome;
}

/** Runs steps until the process completes, waits (CA, operator confirmation, missing data) or `maxSteps` is reached. */
export async function runAcquisition(
  ctx: ServiceContext,
  deps: AcquisitionDeps,
  requestId: string,
  actor: Actor,
  options: { maxSteps?: number; singleStep?: boolean } = {}
): Promise<RunResult> {
  const steps: AcquisitionStep[] = [];
  const max = options.singleStep ? 1 : (options.maxSteps ?? 12);
  for (let i = 0; i < max; i++) {
    const o = await runOneStep(ctx, deps, requestId, actor);
    if (o === 'busy') return { request: await getRequest(ctx.db.em(), requestId), stoppedBecause: 'busy', steps };
    if (o.step && (o.progressed || o.request.status === 'waiting')) steps.push(o.step);
    const r = o.request;
    if (r.status === 'completed') return { request: r, stoppedBecause: 'completed', steps };
    if (r.status === 'waiting') return { request: r, stoppedBecause: 'waiting', steps };
    if (!o.progressed) return { request: r, stoppedBecause: 'pending', steps };
    if (r.awaitingConfirmation) return { request: r, stoppedBecause: 'confirm', steps };
    if (r.status === 'ordered') return { request: r, stoppedBecause: 'pending', steps };
  }
  return {
    request: await getRequest(ctx.db.em(), requestId),
    stoppedBecause: options.singleStep ? 'confirm' : 'limit',
    steps,
  };
}

/**
 * Starts an acquisition for a definition (SPEC O1, O2): unattended runs to completion (or to a wait); interactive
 * stops before the first step and waits for the operator's confirmation.
 */
export async function startAcquisition(
  ctx: ServiceContext,
  deps: AcquisitionDeps,
  raw: unknown,
  actor: Actor
): Promise<RunResult> {
  const input = parseInput(startAcquisitionSchema, raw, 'acquisition.start');
  const created = await createRequest(
    ctx,
    {
      definitionId: input.definitionId,
      privateKeyId: input.privateKeyId ?? null,
      productId: input.productId ?? null,
      providerAccountId: input.providerAccountId ?? null,
    },
    actor
  );
  const em = ctx.db.em();
  const req = await em.findOneOrFail(RequestEntity, { id: created.id });
  if (input.processMode) req.processMode = input.processMode;
  req.awaitingConfirmation = req.processMode === 'interactive';
  await em.flush();
  if (req.processMode === 'interactive') return { request: req, stoppedBecause: 'confirm', steps: [] };
  return runAcquisition(ctx, deps, req.id, actor);
}

/** Interactive mode: the operator confirms the next step, which then runs (SPEC O2). */
export async function confirmStep(
  ctx: ServiceContext,
  deps: AcquisitionDeps,
  requestId: string,
  actor: Actor
): Promise<RunResult> {
  const em = ctx.db.em();
  const req = await getRequest(em, requestId);
  if (!req.awaitingConfirmation && req.status !== 'ordered') {
    throw new CertFleetError(
      'CF_ACQUISITION_STATE',
      `acquisition: request ${requestId} is ${req.status} and does not wait for a confirmation`
    );
  }
  req.awaitingConfirmation = false;
  await em.flush();
  return runAcquisition(ctx, deps, requestId, actor, { singleStep: true });
}

export const resumeSchema = z.object({ processMode: z.enum(['interactive', 'unattended']).optional() }).strict();

/** Resumes a waiting process once the missing data is supplied, interactively or unattended (SPEC O2). */
export async function resumeAcquisition(
  ctx: ServiceContext,
  deps: AcquisitionDeps,
  requestId: string,
  raw: unknown,
  actor: Actor
): Promise<RunResult> {
  const input = parseInput(resumeSchema, raw ?? {}, 'acquisition.resume');
  const em = ctx.db.em();
  const req = await getRequest(em, requestId);
  if (req.status !== 'waiting' || !req.resumeStatus)
    throw new CertFleetError('CF_ACQUISITION_STATE', `acquisition: request ${requestId} is ${req.status}, not waiting`);
  await em.transactional(async (tem) => {
    const r = await tem.findOneOrFail(RequestEntity, { id: requestId });
    const now = ctx.clock.now();
    const to = r.resumeStatus!;
    history(tem, r, 'waiting', to, actor, 'resumed', now);
    r.status = to;
    r.resumeStatus = null;
    r.waitingFor = null;
    r.attempts = 0;
    r.nextAttemptAt = null;
    if (input.processMode) r.processMode = input.processMode;
    r.awaitingConfirmation = r.processMode === 'interactive';
    r.updatedAt = now;
    await appendAudit(
      tem,
      {
        actor,
        action: 'request.resumed',
        targetType: 'request',
        targetId: r.id,
        details: { processMode: r.processMode },
      },
      now
    );
  });
  const fresh = await getRequest(ctx.db.em(), requestId);
  if (fresh.processMode === 'interactive') return { request: fresh, stoppedBecause: 'confirm', steps: [] };
  return runAcquisition(ctx, deps, requestId, actor);
}

export const uploadSchema = z
  .object({
    certificatePem: z.string().min(1).max(200_000),
    chainPem: z.string().max(500_000).optional(),
    orderNumber: z.string().min(1).max(200).optional(),
    orderDate: z.iso.datetime().optional(),
  })
  .strict();

/**
 * The manual/commercial flow (SPEC A2, A4): the certificate the vendor issued (and optionally its chain) is
 * uploaded against the request; the process then receives, verifies (completing the chain from known
 * intermediates) and makes it current.
 */
export async function uploadIssuedCertificate(
  ctx: ServiceContext,
  deps: AcquisitionDeps,
  requestId: string,
  raw: unknown,
  actor: Actor
): Promise<RunResult> {
  const input = parseInput(uploadSchema, raw, 'acquisition.upload');
  const leafs = certificatesFromPems([input.certificatePem]);
  if (leafs.length !== 1)
    throw new CertFleetError(
      'CF_VALIDATION',
      `acquisition.upload: certificatePem must hold exactly one certificate (found ${leafs.length})`
    );
  const chain = input.chainPem ? certificatesFromPems([input.chainPem]) : [];
  await ctx.db.em().transactional(async (em) => {
    const req = await em.findOne(RequestEntity, { id: requestId }, { lockMode: LockMode.PESSIMISTIC_WRITE });
    if (!req) throw new CertFleetError('CF_NOT_FOUND', `acquisition: request ${requestId} not found`);
    const at = req.status === 'waiting' ? req.resumeStatus : req.status;
    if (at !== 'ordered')
      throw new CertFleetError(
        'CF_ACQUISITION_STATE',
        `acquisition: request ${requestId} is not waiting for a certificate (status ${req.status})`
      );
    const now = ctx.clock.now();
    const pending = (req.issuerState?.pending ?? {}) as Record<string, unknown>;
    req.issuerState = {
      pending: { ...pending, uploaded: { leafPem: leafs[0]!.toString(), chainPem: chain.map((c) => c.toString()) } },
    };
    if (input.orderNumber) req.orderNumber = input.orderNumber;
    if (input.orderDate) req.orderDate = new Date(input.orderDate);
    req.nextAttemptAt = now;
    if (req.status === 'waiting') {
      history(em, req, 'waiting', 'ordered', actor, 'certificate uploaded', now);
      req.status = 'ordered';
      req.resumeStatus = null;
      req.waitingFor = null;
      req.attempts = 0;
    }
    req.updatedAt = now;
    await appendAudit(
      em,
      {
        actor,
        action: 'request.certificate_uploaded',
        targetType: 'request',
        targetId: req.id,
        details: { sha256: leafs[0]!.fingerprint256.replace(/:/g, '').toLowerCase() },
      },
      now
    );
  });
  const req = await getRequest(ctx.db.em(), requestId);
  if (req.processMode === 'interactive') {
    req.awaitingConfirmation = true;
    return { request: req, stoppedBecause: 'confirm', steps: [] };
  }
  return runAcquisition(ctx, deps, requestId, actor);
}

/** Cancels an open request (it stays in the history). */
export async function cancelAcquisition(
  ctx: ServiceContext,
  requestId: string,
  actor: Actor
): Promise<CertificateRequest> {
  return ctx.db.em().transactional(async (em) => {
    const req = await em.findOne(RequestEntity, { id: requestId }, { lockMode: LockMode.PESSIMISTIC_WRITE });
    if (!req) throw new CertFleetError('CF_NOT_FOUND', `acquisition: request ${requestId} not found`);
    if (isTerminal(req.status))
      throw new CertFleetError('CF_ACQUISITION_STATE', `acquisition: request ${requestId} is already ${req.status}`);
    const now = ctx.clock.now();
    history(em, req, req.status, 'cancelled', actor, 'cancelled', now);
    req.status = 'cancelled';
    req.awaitingConfirmation = false;
    req.updatedAt = now;
    await appendAudit(em, { actor, action: 'request.cancelled', targetType: 'request', targetId: req.id }, now);
    return req;
  });
}
