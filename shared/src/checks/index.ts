// Public surface of the check chain (SPEC M2, M3, M6). Pure functions only: the probe engine observes, these judge.
export * from './types';
export { DEFAULT_EXPIRY_THRESHOLD_DAYS, CHECKS } from './checks';
export * as checks from './checks';
export { evaluateChecks, gatherEvidence } from './evaluate';
export { type CertificateFacts, type KeyFacts, type SignatureFacts, certificateFacts } from './certificate-facts';
export { type HostnameMatch, hostnameCovered, dnsNameMatches, canonicalIp as canonicalIpAddress } from './hostname';
export { type PathProblem, type PathResult, validatePath } from './path';
export { type RevocationInfo, notRevoked } from './revocation';
