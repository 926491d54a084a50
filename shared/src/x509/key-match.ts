/** Does a private key belong to a certificate? */
import type { KeyObject, X509Certificate } from 'node:crypto';

/**
 * True when `privateKey` is the private half of the certificate's public key (OpenSSL `X509_check_private_key`
 * through Node's `X509Certificate.checkPrivateKey`). Keys of a different type simply do not match; this never throws.
 */
export function privateKeyMatchesCertificate(certificate: X509Certificate, privateKey: KeyObject): boolean {
  try {
    return certificate.checkPrivateKey(privateKey);
  } catch {
    return false;
  }
}
