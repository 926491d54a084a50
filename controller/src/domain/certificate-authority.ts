/**
 * A CA of the built-in private CA (SPEC C1, C3, C7): the active one issues, retired ones stay for validation.
 * A subordinate CA waits in `pending` with its CSR until the parent-issued certificate is imported.
 */
export interface CaExtensions {
  /** CRL distribution point URL put into every issued certificate (C3). */
  crlDistributionPoint?: string;
  /** AIA caIssuers URL (C3). */
  caIssuersUrl?: string;
  /** AIA OCSP URL (C3). */
  ocspUrl?: string;
}

export interface CertificateAuthority {
  id: string;
  name: string;
  kind: 'root' | 'subordinate';
  subject: string;
  /** Null while a subordinate CA waits for its parent-issued certificate. */
  certificatePem: string | null;
  /** Parent chain (issuer first) for a subordinate CA. */
  chainPem: string[];
  csrPem: string | null;
  privateKeyId: string;
  status: 'pending' | 'active' | 'retired';
  extensions: CaExtensions;
  /** Number of the last CRL published (RFC 5280 cRLNumber). */
  crlNumber: number;
  createdAt: Date;
}

/** Every certificate a CA signed (server, client or CA): the CRL source, no log parsing needed (C2, C4, C5). */
export interface CaIssuance {
  id: string;
  caId: string;
  /** Upper-case hex, as Node prints it. */
  serial: string;
  kind: 'server' | 'client' | 'ca';
  subject: string;
  sha256: string;
  notBefore: Date;
  notAfter: Date;
  /** The repository certificate, for server certificates. */
  certificateId: string | null;
  /** For client certificates: the console user it belongs to. */
  username: string | null;
  pem: string;
  revokedAt: Date | null;
  revocationReason: RevocationReason | null;
  issuedAt: Date;
}

/** RFC 5280 CRLReason names. */
export const revocationReasons = [
  'unspecified',
  'keyCompromise',
  'cACompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
  'certificateHold',
  'privilegeWithdrawn',
] as const;
export type RevocationReason = (typeof revocationReasons)[number];
