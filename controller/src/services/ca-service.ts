/**
 * The built-in private CA's use cases (SPEC C1–C7), one import for routes, CLI and other services. The code lives
 * in services/ca/: ca-store (lookups, views, signing material), issuances (the register), revocation (revoke,
 * CRLs), lifecycle (rollover, subordinate, extensions, downloads), client-certificates (PKCS#12 for users).
 */
export {
  caInfo,
  caRefSchema,
  caView,
  chainOf,
  findActiveCa,
  listCas,
  normalizeSerial,
  resolveCa,
  resolveExtensions,
  signingMaterial,
  type CaRef,
  type CaSigningMaterial,
  type CaView,
} from './ca/ca-store';
export {
  directIssueSchema,
  issuanceListQuerySchema,
  issueServerCertificateDirect,
  linkIssuanceToCertificate,
  listIssuances,
  recordIssuance,
  type DirectIssueInput,
  type DirectIssueResult,
  type IssuanceView,
  type RecordIssuanceInput,
} from './ca/issuances';
export {
  CRL_VALIDITY_MS,
  currentCrl,
  revokeCertificate,
  revokeInputSchema,
  type CurrentCrl,
  type RevokeInput,
  type RevokeResult,
} from './ca/revocation';
export {
  activateInputSchema,
  activateSubordinate,
  caCertificate,
  caTrustInstaller,
  createSubordinateCsr,
  rolloverCa,
  rolloverInputSchema,
  setCaExtensions,
  subordinateInputSchema,
} from './ca/lifecycle';
export {
  clientCertificateInputSchema,
  issueClientCertificate,
  type ClientCertificateInput,
  type ClientCertificateResult,
} from './ca/client-certificates';
