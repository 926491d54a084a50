/** An issued certificate held in the repository (SPEC R3). Exactly one per definition is current. */
export interface Certificate {
  id: string;
  definitionId: string;
  requestId: string | null;
  privateKeyId: string | null;
  pem: string;
  /** Issuer chain, leaf's issuer first. */
  chainPem: string[];
  sha1: string;
  sha256: string;
  serial: string;
  subject: string;
  issuer: string;
  notBefore: Date;
  notAfter: Date;
  keyAlgorithm: string;
  sans: string[];
  isCurrent: boolean;
  /** How it entered the repository: `import`, `internal-ca`, `acme`, `manual`. */
  source: string;
  createdAt: Date;
}

/** Whole days from `now` until `notAfter` (negative once expired). */
export function daysLeft(cert: Pick<Certificate, 'notAfter'>, now: Date): number {
  return Math.floor((cert.notAfter.getTime() - now.getTime()) / 86_400_000);
}

/** True when a certificate carrying its key can be redeployed (SPEC I2); without a key it can only be monitored. */
export function isRedeployable(cert: Pick<Certificate, 'privateKeyId'>): boolean {
  return cert.privateKeyId !== null;
}
