export { createRootCa, rootCaTimestamp, type CreateRootCaOptions, type CreateRootCaResult } from './root-ca';
export {
  issueServerCertificate,
  issueClientCertificate,
  loadCa,
  sanSchema,
  subjectSchema,
  caExtensionsSchema,
  extensionUrlSchema,
  dnsNameProblem,
  canonicalIp,
  CLOCK_SKEW_MS,
  type CaKeyPairPem,
  type LoadedCa,
  type IssueServerCertificateOptions,
  type IssueServerCertificateResult,
  type IssueClientCertificateOptions,
  type SubjectAltName,
  type CertificateSubject,
} from './issue-certificate';
export { publicKeyFromCsr, createCsr, MAX_CSR_BYTES, type CsrPublicKey, type CreateCsrOptions } from './csr';
export {
  createCrl,
  crlSigner,
  CRL_REASON_CODES,
  type CreateCrlOptions,
  type CreateCrlResult,
  type CrlSigner,
  type RevokedEntry,
} from './crl';
export { createPkcs12, PKCS12_DEFAULT_ITERATIONS, type CreatePkcs12Options } from './pkcs12';
export {
  createSubordinateCaRequest,
  validateSubordinateCertificate,
  type CreateSubordinateCaRequestOptions,
  type SubordinateCaRequest,
  type ValidateSubordinateCertificateOptions,
  type ValidatedSubordinateCertificate,
} from './subordinate';
export { trustInstallerScript, trustFileSlug } from './trust-installer';
