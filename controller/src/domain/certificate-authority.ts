/** A CA known to the built-in private CA (SPEC C1, C7): the active one issues, retired ones stay for validation. */
export interface CertificateAuthority {
  id: string;
  name: string;
  subject: string;
  certificatePem: string;
  privateKeyId: string;
  status: 'active' | 'retired';
  createdAt: Date;
}
