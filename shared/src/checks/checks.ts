/**
 * The check chain (STYLE §7.5): each check is a small pure function of the decoded observation and the context,
 * returning a status, a CamelCase machine reason and a human message. {@link CHECKS} lists them in evaluation
 * order; `evaluateChecks` runs them all (so a report shows everything) and the first failure wins the verdict.
 *
 * | check | failing / warning reasons |
 * |---|---|
 * | Reachable | the probe's error code (`ConnectRefused`, `ConnectTimeout`, `Unreachable`, `HandshakeFailed`, `StartTlsRefused`, `DnsFailed`, `Timeout`, `Reset`), else `Unreachable`; `NoCertificate`, `CertificateMalformed` |
 * | ServedCertMatchesCurrent (managed) | `ServedCertMismatch` |
 * | IntermediatesServed | `IntermediateMissing`; `IntermediateMissingAiaCompletable` (not served, but fetched via AIA caIssuers the chain validates) |
 * | ChainTrusted (with a trust set) | `IntermediateMissing`, `SelfSigned`, `ChainUntrusted`, `IssuerNotCa`, `CertificateExpired`, `CertificateNotYetValid`, `IntermediateExpired`, `IntermediateNotYetValid`, `RootExpired`, `ChainTooLong` |
 * | SubjectMatches | `SubjectMismatch` |
 * | HostnameCovered | `HostnameMismatch` |
 * | CertificateNotExpired | `CertificateExpired` |
 * | CertificateNotYetValid | `CertificateNotYetValid` |
 * | CertificateNearingExpiry | `CertificateExpiringSoon` (warning) |
 * | SelfSigned | `SelfSigned` (warning) |
 * | WeakKey | `WeakKey` (RSA/DSA < 2048 bits, EC < 256 bits) |
 * | WeakSignature | `WeakSignature` (MD2/MD4/MD5/SHA-1) |
 * | IntermediateExpiring | `IntermediateExpired`, `IntermediateExpiringSoon` (warning) |
 * | NotRevoked (with `ctx.revocation`) | `CertificateRevoked`; `RevocationUnreachable` (warning: no OCSP responder / CRL server reachable); `RevocationUnknown` (warning: an answer came but says unknown or cannot be trusted) |
 */
import type { CertificateFacts } from './certificate-facts';
import { hostnameCovered } from './hostname';
import { isSameCertificate } from './path';
import { notRevoked } from './revocation';
import type { Check, CheckCode, CheckContext, CheckResult, Evidence } from './types';

const DAY_MS = 86_400_000;

/** Default expiry warning threshold (SPEC M3). */
export const DEFAULT_EXPIRY_THRESHOLD_DAYS = 30;

const WEAK_DIGESTS: ReadonlySet<string> = new Set(['MD2', 'MD4', 'MD5', 'SHA-1']);

function ok(code: CheckCode, message: string): CheckResult {
  return { code, status: 'ok', message };
}
function failing(code: CheckCode, reason: string, message: string): CheckResult {
  return { code, status: 'failing', reason, message };
}
function warning(code: CheckCode, reason: string, message: string): CheckResult {
  return { code, status: 'warning', reason, message };
}
function skipped(code: CheckCode, message: string): CheckResult {
  return { code, status: 'skipped', message };
}

function iso(d: Date): string {
  return d.toISOString();
}

function normalizeFingerprint(fp: string): string {
  return fp.replace(/[:\s]/g, '').toLowerCase();
}

function daysLeft(notAfter: Date, now: Date): number {
  return Math.floor((notAfter.getTime() - now.getTime()) / DAY_MS);
}

function thresholdMs(ctx: CheckContext): number {
  return (ctx.expiryThresholdDays ?? DEFAULT_EXPIRY_THRESHOLD_DAYS) * DAY_MS;
}

/** The intermediates that matter: the validated path's when there is one, else every served non-root. */
export function relevantIntermediates(e: Evidence): CertificateFacts[] {
  if (e.path && e.path.intermediates.length > 0) {
    const onPath = new Set(e.path.intermediates.map((c) => c.sha256));
    return e.served.filter((c) => onPath.has(c.sha256) && !c.selfSigned);
  }
  return e.served.filter((c) => !c.selfSigned && c.sha256 !== e.leaf?.sha256);
}

const NO_LEAF = 'no certificate to check';

export { notRevoked };

/** The TLS handshake completed and the server sent a decodable certificate. */
export const reachable: Check = (e) => {
  const o = e.observation;
  if (!o.ok) {
    const code = o.error?.code ?? 'UNKNOWN';
    const text = `${o.host}:${o.port}: ${o.error?.message ?? 'not reachable'} (${code})`;
    // the probe engine's codes are already CamelCase reasons (ConnectRefused, Timeout, HandshakeFailed, …)
    if (/^(?:[A-Z][a-z]+)+$/.test(code)) return failing('Reachable', code, text);
    if (/REFUSED/i.test(code)) return failing('Reachable', 'ConnectRefused', text);
    if (/TIMEOUT|TIMEDOUT/i.test(code)) return failing('Reachable', 'Timeout', text);
    if (/ENOTFOUND|EAI_/i.test(code)) return failing('Reachable', 'DnsFailed', text);
    return failing('Reachable', 'Unreachable', text);
  }
  if (o.chain.length === 0) return failing('Reachable', 'NoCertificate', `${o.host}:${o.port} sent no certificate`);
  if (!e.leaf)
    return failing(
      'Reachable',
      'CertificateMalformed',
      `${o.host}:${o.port} sent a certificate that does not decode: ${e.leafError ?? 'unknown error'}`
    );
  return ok('Reachable', `${o.host}:${o.port} answered with ${o.chain.length} certificate(s)`);
};

/** Lifecycle-Managed (SPEC M2): the served leaf is the definition's current certificate (by SHA-256). */
export const servedCertMatchesCurrent: Check = (e, ctx) => {
  const code = 'ServedCertMatchesCurrent';
  if (ctx.mode !== 'managed') return skipped(code, 'Monitored-Only: no current certificate to compare');
  if (!e.leaf) return skipped(code, NO_LEAF);
  if (!ctx.expectedSha256) return skipped(code, 'no current certificate recorded for this definition');
  const expected = normalizeFingerprint(ctx.expectedSha256);
  if (e.leaf.sha256 === expected) return ok(code, `the served certificate is the current one (SHA-256 ${expected})`);
  return failing(
    code,
    'ServedCertMismatch',
    `the server sends SHA-256 ${e.leaf.sha256} (SHA-1 ${e.leaf.sha1}, "${e.leaf.subject}", expires ${iso(e.leaf.notAfter)}), not the current certificate ${expected}`
  );
};

/** The intermediates the server must send are sent (explicit list), or at least the leaf's issuer (trust set). */
export const intermediatesServed: Check = (e, ctx) => {
  const code = 'IntermediatesServed';
  if (!e.leaf) return skipped(code, NO_LEAF);
  if (ctx.expectedChainSha256 && ctx.expectedChainSha256.length > 0) {
    const served = new Set(e.served.map((c) => c.sha256));
    const missing = ctx.expectedChainSha256.map(normalizeFingerprint).filter((fp) => !served.has(fp));
    if (missing.length === 0) return ok(code, `all ${ctx.expectedChainSha256.length} expected intermediate(s) served`);
    return failing(
      code,
      'IntermediateMissing',
      `the server does not send intermediate(s) SHA-256 ${missing.join(', ')}`
    );
  }
  if (!e.path) return skipped(code, 'no expected intermediates and no trust set to judge the served chain');
  if (e.leaf.selfSigned) return ok(code, 'self-signed certificate: no intermediate needed');
  const completed = e.completedPath;
  if (completed?.ok) {
    const missing = aiaOnPath(e, completed.intermediates);
    return failing(
      code,
      'IntermediateMissingAiaCompletable',
      `the server does not send intermediate(s) ${missing.map((c) => `"${c.subject}"`).join(', ')}; completed with them from AIA caIssuers (${aiaSources(ctx)}), the chain validates to "${oneLine(completed.anchor.subject)}" in trust set "${ctx.trustSet?.name ?? ''}" — clients that do not fetch AIA will fail, the server must send them`
    );
  }
  if (!e.path.ok && e.path.problem === 'IssuerNotFound' && e.path.depth === 0)
    return failing(
      code,
      'IntermediateMissing',
      `the server does not send the issuer of its certificate ("${e.leaf.issuer}"), and it is not a root in trust set "${ctx.trustSet?.name ?? ''}"${aiaNote(e, ctx)}`
    );
  return ok(code, `the issuer of the certificate ("${e.leaf.issuer}") is served or trusted`);
};

function oneLine(subject: string): string {
  return subject.replace(/\n/g, ', ');
}

/** The AIA-fetched certificates a path uses (in path order). */
function aiaOnPath(e: Evidence, intermediates: readonly CertificateFacts[]): CertificateFacts[] {
  const onPath = new Set(intermediates.map((c) => c.sha256));
  return e.aiaFetched.filter((c) => onPath.has(c.sha256));
}

/** The caIssuers URLs that gave an issuer. */
function aiaSources(ctx: CheckContext): string {
  const urls = (ctx.aia?.attempts ?? []).filter((a) => !a.error && a.url).map((a) => a.url as string);
  return urls.length ? urls.join(', ') : 'no URL';
}

/** What AIA fetching did for a chain that still has no path (empty when it was not asked). */
function aiaNote(e: Evidence, ctx: CheckContext): string {
  const aia = ctx.aia;
  if (!aia) return '';
  if (e.completedPath && !e.completedPath.ok)
    return `; completed from AIA caIssuers (${aiaSources(ctx)}), the chain still does not validate: ${e.completedPath.message}`;
  const failed = aia.attempts.filter((a) => a.error);
  if (failed.length === 0) return '';
  return `; AIA: ${failed.map((a) => (a.url ? `caIssuers ${a.url} for "${a.for}": ${a.error ?? ''}` : `"${a.for}" ${a.error ?? ''}`)).join('; ')}`;
}

/** Monitored-Only (SPEC M3): the served chain validates to a root of the definition's trust set. */
export const chainTrusted: Check = (e, ctx) => {
  const code = 'ChainTrusted';
  if (!e.leaf) return skipped(code, NO_LEAF);
  if (!ctx.trustSet || !e.path) return skipped(code, 'no trust set given');
  if (e.path.ok)
    return ok(
      code,
      `the chain validates to "${oneLine(e.path.anchor.subject)}" in trust set "${ctx.trustSet.name}" (${ctx.trustSet.version})`
    );
  const completed = e.completedPath;
  if (completed?.ok)
    return ok(
      code,
      `completed with ${aiaOnPath(e, completed.intermediates).length} intermediate(s) from AIA caIssuers (${aiaSources(ctx)}), the chain validates to "${oneLine(completed.anchor.subject)}" in trust set "${ctx.trustSet.name}" (${ctx.trustSet.version}); the server does not send them (see IntermediatesServed)`
    );
  // with AIA certificates, the completed path's problem is the real one (beyond the missing issuer)
  const p = completed ?? e.path;
  const top = p.anchor !== undefined && p.depth === p.intermediates.length + 1;
  let reason: string;
  switch (p.problem) {
    case 'IssuerNotFound':
      reason = p.depth === 0 ? 'IntermediateMissing' : 'ChainUntrusted';
      break;
    case 'UntrustedRoot':
      reason = 'ChainUntrusted';
      break;
    case 'SelfSigned':
      reason = 'SelfSigned';
      break;
    case 'Expired':
      reason = p.depth === 0 ? 'CertificateExpired' : top ? 'RootExpired' : 'IntermediateExpired';
      break;
    case 'NotYetValid':
      reason = p.depth === 0 ? 'CertificateNotYetValid' : 'IntermediateNotYetValid';
      break;
    default:
      reason = p.problem;
  }
  if (completed) return failing(code, reason, `completed from AIA caIssuers (${aiaSources(ctx)}): ${p.message}`);
  return failing(code, reason, `${p.message}${p.problem === 'IssuerNotFound' ? aiaNote(e, ctx) : ''}`);
};

function attributeMatches(actual: readonly string[] | undefined, expected: string): boolean {
  const norm = (s: string): string => s.trim().replace(/\s+/g, ' ').toLowerCase();
  return (actual ?? []).some((a) => norm(a) === norm(expected));
}

/** The subject's CN, O and C are the ones the definition expects (SPEC M3 DN check). */
export const subjectMatches: Check = (e, ctx) => {
  const code = 'SubjectMatches';
  if (!e.leaf) return skipped(code, NO_LEAF);
  const want = ctx.expectedSubject;
  if (!want || (want.commonName === undefined && want.organization === undefined && want.country === undefined))
    return skipped(code, 'no expected subject given');
  const attrs = e.leaf.subjectAttributes;
  const wrong: string[] = [];
  if (want.commonName !== undefined && !attributeMatches(attrs.CN, want.commonName))
    wrong.push(`CN is "${(attrs.CN ?? []).join('+')}", expected "${want.commonName}"`);
  if (want.organization !== undefined && !attributeMatches(attrs.O, want.organization))
    wrong.push(`O is "${(attrs.O ?? []).join('+')}", expected "${want.organization}"`);
  if (want.country !== undefined && !attributeMatches(attrs.C, want.country))
    wrong.push(`C is "${(attrs.C ?? []).join('+')}", expected "${want.country}"`);
  if (wrong.length) return failing(code, 'SubjectMismatch', `subject "${e.leaf.subject}": ${wrong.join('; ')}`);
  return ok(code, `subject "${e.leaf.subject}" matches`);
};

/** The check name (or the SNI name) is covered by a SAN, RFC 6125 rules (SPEC M6). */
export const hostnameCoveredCheck: Check = (e, ctx) => {
  const code = 'HostnameCovered';
  if (!e.leaf) return skipped(code, NO_LEAF);
  const name = ctx.checkName ?? e.observation.serverName ?? undefined;
  if (!name) return skipped(code, 'no check name and no SNI name to match');
  const m = hostnameCovered(name, e.leaf.sans, e.leaf.subjectAttributes.CN ?? []);
  if (m.covered)
    return ok(
      code,
      m.viaCommonName
        ? `"${name}" is covered by the subject ${m.matchedBy ?? ''} (the certificate has no DNS SANs)`
        : `"${name}" is covered by ${m.matchedBy ?? ''}`
    );
  const names = e.leaf.sans.length
    ? e.leaf.sans.join(', ')
    : `no SANs; CN ${(e.leaf.subjectAttributes.CN ?? []).join(', ')}`;
  return failing(code, 'HostnameMismatch', `"${name}" is not covered by the certificate (${names})`);
};

/** The leaf has not expired. */
export const certificateNotExpired: Check = (e, ctx) => {
  const code = 'CertificateNotExpired';
  if (!e.leaf) return skipped(code, NO_LEAF);
  if (ctx.now > e.leaf.notAfter)
    return failing(code, 'CertificateExpired', `the certificate expired on ${iso(e.leaf.notAfter)}`);
  return ok(code, `valid until ${iso(e.leaf.notAfter)}`);
};

/** The leaf is already valid. */
export const certificateNotYetValid: Check = (e, ctx) => {
  const code = 'CertificateNotYetValid';
  if (!e.leaf) return skipped(code, NO_LEAF);
  if (ctx.now < e.leaf.notBefore)
    return failing(code, 'CertificateNotYetValid', `the certificate is not valid before ${iso(e.leaf.notBefore)}`);
  return ok(code, `valid since ${iso(e.leaf.notBefore)}`);
};

/** Warns when the leaf expires within the threshold (default 30 days). */
export const certificateNearingExpiry: Check = (e, ctx) => {
  const code = 'CertificateNearingExpiry';
  if (!e.leaf) return skipped(code, NO_LEAF);
  if (ctx.now > e.leaf.notAfter) return skipped(code, 'already expired');
  const days = ctx.expiryThresholdDays ?? DEFAULT_EXPIRY_THRESHOLD_DAYS;
  if (e.leaf.notAfter.getTime() < ctx.now.getTime() + thresholdMs(ctx))
    return warning(
      code,
      'CertificateExpiringSoon',
      `the certificate expires on ${iso(e.leaf.notAfter)}, in ${daysLeft(e.leaf.notAfter, ctx.now)} day(s) (threshold ${days})`
    );
  return ok(code, `${daysLeft(e.leaf.notAfter, ctx.now)} day(s) left (threshold ${days})`);
};

/** Warns about a self-signed leaf unless the trust set trusts it explicitly. */
export const selfSigned: Check = (e, ctx) => {
  const code = 'SelfSigned';
  if (!e.leaf) return skipped(code, NO_LEAF);
  if (!e.leaf.selfSigned) return ok(code, 'issued by a CA');
  if (ctx.trustSet?.sha256.has(e.leaf.sha256))
    return ok(code, `self-signed, and explicitly trusted by trust set "${ctx.trustSet.name}"`);
  return warning(code, 'SelfSigned', `the certificate "${e.leaf.subject}" is self-signed`);
};

function keyProblem(c: CertificateFacts): string | undefined {
  const { type, bits, curve } = c.key;
  if ((type === 'rsa' || type === 'rsa-pss' || type === 'dsa') && (bits === undefined || bits < 2048))
    return `${type.toUpperCase()}-${bits ?? '?'}`;
  if (type === 'ec' && (bits === undefined || bits < 256)) return `EC ${curve ?? 'explicit curve'}`;
  return undefined;
}

function role(e: Evidence, c: CertificateFacts): string {
  return c === e.leaf ? 'the certificate' : `intermediate "${c.subject}"`;
}

/** RSA/DSA keys under 2048 bits and EC keys under 256 bits, in the leaf or the intermediates (SPEC M6). */
export const weakKey: Check = (e) => {
  const code = 'WeakKey';
  if (!e.leaf) return skipped(code, NO_LEAF);
  const weak = [e.leaf, ...relevantIntermediates(e)].flatMap((c) => {
    const p = keyProblem(c);
    return p ? [`${role(e, c)} has a ${p} key`] : [];
  });
  if (weak.length) return failing(code, 'WeakKey', weak.join('; '));
  const k = e.leaf.key;
  return ok(code, `${k.type.toUpperCase()}${k.curve ? ` ${k.curve}` : k.bits ? `-${k.bits}` : ''} key`);
};

/** MD2/MD4/MD5/SHA-1 signatures on the leaf or the intermediates (root self-signatures do not matter). */
export const weakSignature: Check = (e) => {
  const code = 'WeakSignature';
  if (!e.leaf) return skipped(code, NO_LEAF);
  const leafSelfSigned = e.leaf.selfSigned;
  const signed = [...(leafSelfSigned ? [] : [e.leaf]), ...relevantIntermediates(e)];
  const weak = signed.filter((c) => WEAK_DIGESTS.has(c.signature.digest));
  if (weak.length)
    return failing(
      code,
      'WeakSignature',
      weak.map((c) => `${role(e, c)} is signed with ${c.signature.name} (${c.signature.digest})`).join('; ')
    );
  return ok(code, `signed with ${e.leaf.signature.name}`);
};

/** Intermediates (and the root, when known) that have expired or expire within the threshold. */
export const intermediateExpiring: Check = (e, ctx) => {
  const code = 'IntermediateExpiring';
  if (!e.leaf) return skipped(code, NO_LEAF);
  const list = relevantIntermediates(e).map((c) => ({ name: `intermediate "${c.subject}"`, notAfter: c.notAfter }));
  const anchor = e.path?.anchor;
  if (anchor && !isSameCertificate(anchor, e.leaf))
    list.push({ name: `root "${anchor.subject.replace(/\n/g, ', ')}"`, notAfter: new Date(anchor.validTo) });
  if (list.length === 0) return skipped(code, 'no intermediate or root known');
  const expired = list.filter((c) => ctx.now > c.notAfter);
  if (expired.length)
    return failing(
      code,
      'IntermediateExpired',
      expired.map((c) => `${c.name} expired on ${iso(c.notAfter)}`).join('; ')
    );
  const soon = list.filter((c) => c.notAfter.getTime() < ctx.now.getTime() + thresholdMs(ctx));
  if (soon.length)
    return warning(
      code,
      'IntermediateExpiringSoon',
      soon.map((c) => `${c.name} expires on ${iso(c.notAfter)}`).join('; ')
    );
  const first = list.reduce((a, b) => (a.notAfter < b.notAfter ? a : b));
  return ok(code, `the first CA certificate to expire is ${first.name}, on ${iso(first.notAfter)}`);
};

/** The checks, in evaluation order (the first failure wins). */
export const CHECKS: readonly Check[] = [
  reachable,
  servedCertMatchesCurrent,
  intermediatesServed,
  chainTrusted,
  subjectMatches,
  hostnameCoveredCheck,
  certificateNotExpired,
  certificateNotYetValid,
  certificateNearingExpiry,
  selfSigned,
  weakKey,
  weakSignature,
  intermediateExpiring,
  notRevoked,
];
