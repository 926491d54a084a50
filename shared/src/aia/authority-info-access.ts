/**
 * The Authority Information Access extension (RFC 5280 §4.2.2.1): where a certificate's issuer can be downloaded
 * (`caIssuers`) and where its OCSP responder is (`ocsp`). Read with the bounded DER reader; only URI names count.
 */
import { type Asn1Node, contentOf, isContext, parseAsn1, readOid, sequenceOf } from '../x509/der';
import { certificateExtensions } from '../x509/tbs';

export { certificateExtensions };

const OID_AUTHORITY_INFO_ACCESS = '1.3.6.1.5.5.7.1.1';
const OID_AD_OCSP = '1.3.6.1.5.5.7.48.1';
const OID_AD_CA_ISSUERS = '1.3.6.1.5.5.7.48.2';

/** The URIs of a certificate's AIA extension, in certificate order (any scheme). */
export interface AuthorityInfoAccess {
  ocsp: string[];
  caIssuers: string[];
}

/**
 * The OCSP and caIssuers URIs of a DER certificate (empty lists when it has no AIA extension).
 * @throws DecodeError when the certificate or the extension is malformed
 */
export function authorityInfoAccess(certDer: Buffer): AuthorityInfoAccess {
  const out: AuthorityInfoAccess = { ocsp: [], caIssuers: [] };
  for (const ext of certificateExtensions(certDer)) {
    if (ext.oid !== OID_AUTHORITY_INFO_ACCESS) continue;
    for (const desc of sequenceOf(parseAsn1(ext.value), 'AuthorityInfoAccessSyntax')) {
      const [method, location] = sequenceOf(desc, 'AccessDescription') as [Asn1Node, Asn1Node | undefined];
      if (!isContext(location, 6) || location.constructed) continue; // not a uniformResourceIdentifier
      const uri = contentOf(location).toString('latin1');
      const oid = readOid(method, 'accessMethod');
      if (oid === OID_AD_OCSP) out.ocsp.push(uri);
      else if (oid === OID_AD_CA_ISSUERS) out.caIssuers.push(uri);
    }
  }
  return out;
}

/** Like {@link authorityInfoAccess} restricted to `http://` URIs (the only ones fetched); never throws. */
export function httpAuthorityInfoAccess(certDer: Buffer): AuthorityInfoAccess {
  try {
    const aia = authorityInfoAccess(certDer);
    const http = (u: string): boolean => /^http:\/\//i.test(u);
    return { ocsp: aia.ocsp.filter(http), caIssuers: aia.caIssuers.filter(http) };
  } catch {
    return { ocsp: [], caIssuers: [] };
  }
}
