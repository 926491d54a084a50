// Public surface of the x509 helpers. The ASN.1 reader (`der.ts`) and the name/time/SAN decoders stay
// internal to @certfleet/shared; import them by relative path inside the package.
export { DecodeError, type DecodeFailure } from './decode-error';
export { KEY_ALGORITHMS, type KeyAlgorithm, keyAlgorithmOf } from './key-algorithm';
export { privateKeyMatchesCertificate } from './key-match';
export { type PemBlock, containsPem, decodePem, encodePem } from './pem';
export { type ParsedCertificate, parseCertificate } from './certificate';
export { type CertificateSummary, summarizeCertificate, summarizeParsedCertificate } from './certificate-summary';
export * from './chain';
