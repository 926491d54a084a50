/** `evaluateChecks`: decode the observation once, run the check chain, pick the verdict (first failure wins). */
import { type CertificateFacts, certificateFacts } from './certificate-facts';
import { CHECKS } from './checks';
import { isSameCertificate, validatePath } from './path';
import type { CheckContext, CheckOutcome, Evidence, ObservedEndpoint } from './types';

/** Decodes what the checks need from an observation (pure; the trust set is read, never changed). */
export function gatherEvidence(observation: ObservedEndpoint, ctx: CheckContext): Evidence {
  const evidence: Evidence = { observation, served: [], aiaFetched: [] };
  if (!observation.ok || observation.chain.length === 0) return evidence;
  const [leafDer, ...rest] = observation.chain;
  try {
    evidence.leaf = certificateFacts(leafDer as Buffer);
  } catch (err) {
    evidence.leafError = err instanceof Error ? err.message : String(err);
    return evidence;
  }
  for (const der of rest) {
    try {
      evidence.served.push(certificateFacts(der));
    } catch {
      /* junk in the served chain cannot help path building; the leaf's checks still run */
    }
  }
  if (!ctx.trustSet) return evidence;
  evidence.path = validatePath(evidence.leaf, evidence.served, ctx.trustSet, ctx.now);
  if (ctx.aia) {
    for (const der of ctx.aia.certificates) {
      try {
        evidence.aiaFetched.push(certificateFacts(der));
      } catch {
        /* the fetcher verified what it kept; a certificate that no longer decodes cannot help */
      }
    }
    // only a missing issuer can be helped by fetched certificates (the served ones are tried first)
    if (!evidence.path.ok && evidence.path.problem === 'IssuerNotFound' && evidence.aiaFetched.length > 0)
      evidence.completedPath = validatePath(
        evidence.leaf,
        [...evidence.served, ...evidence.aiaFetched],
        ctx.trustSet,
        ctx.now
      );
  }
  return evidence;
}

/**
 * Judges one observation (SPEC M2, M3, M6). Every check runs and is reported; the verdict's status is `failing`
 * when any check fails, else `warning` when any warns, else `ok`; its reason is the first failure's (in
 * {@link CHECKS} order), else the first warning's, else `Ok`. Pure: no I/O, time comes from `ctx.now`.
 * @example evaluateChecks(await probeEndpoint({ host, port }), { now: clock.now(), mode: 'monitored', trustSet })
 */
export function evaluateChecks(observation: ObservedEndpoint, ctx: CheckContext): CheckOutcome {
  const evidence = gatherEvidence(observation, ctx);
  const checks = CHECKS.map((check) => check(evidence, ctx));
  const first = checks.find((c) => c.status === 'failing') ?? checks.find((c) => c.status === 'warning');
  const leaf = evidence.leaf;
  const outcome: CheckOutcome = {
    status: first ? (first.status as 'failing' | 'warning') : 'ok',
    reason: first?.reason ?? 'Ok',
    message: first?.message ?? 'all checks passed',
    checks,
    chain: evidence.served.map(servedSummary),
    expiry: { intermediates: [] },
  };
  if (leaf) {
    outcome.leaf = {
      sha1: leaf.sha1,
      sha256: leaf.sha256,
      subject: leaf.subject,
      issuer: leaf.issuer,
      notBefore: leaf.notBefore.toISOString(),
      notAfter: leaf.notAfter.toISOString(),
      serial: leaf.serial,
      sans: [...leaf.sans],
    };
    outcome.expiry = expiryOf(evidence, leaf);
  }
  return outcome;
}

function servedSummary(c: CertificateFacts): CheckOutcome['chain'][number] {
  return { sha1: c.sha1, sha256: c.sha256, subject: c.subject, issuer: c.issuer, notAfter: c.notAfter.toISOString() };
}

function expiryOf(e: Evidence, leaf: CertificateFacts): CheckOutcome['expiry'] {
  const anchor = e.path?.anchor ?? (e.completedPath?.ok ? e.completedPath.anchor : undefined);
  const servedRoot = e.served.find((c) => c.selfSigned);
  const onPath = e.path ? new Set(e.path.intermediates.map((c) => c.sha256)) : undefined;
  const intermediates = e.served
    .filter((c) => !c.selfSigned && (onPath === undefined || onPath.size === 0 || onPath.has(c.sha256)))
    .map((c) => c.notAfter.toISOString());
  const root =
    anchor && !isSameCertificate(anchor, leaf)
      ? new Date(anchor.validTo).toISOString()
      : servedRoot?.notAfter.toISOString();
  return { leaf: leaf.notAfter.toISOString(), intermediates, ...(root === undefined ? {} : { root }) };
}
