export { createRootCa, rootCaTimestamp, type CreateRootCaOptions, type CreateRootCaResult } from './root-ca';
export {
  issueServerCertificate,
  loadCa,
  sanSchema,
  subjectSchema,
  dnsNameProblem,
  canonicalIp,
  CLOCK_SKEW_MS,
  type CaKeyPairPem,
  type LoadedCa,
  type IssueServerCertificateOptions,
  type IssueServerCertificateResult,
  type SubjectAltName,
  type CertificateSubject,
} from './issue-certificate';
