// Revocation status fetchers (SPEC M6): I/O that feeds `CheckContext.revocation`; the checks stay pure.
export {
  type CrlCheckOptions,
  type CrlEntry,
  type ParsedCrl,
  CrlCache,
  DEFAULT_CRL_CACHE_ENTRIES,
  DEFAULT_CRL_MAX_BYTES,
  DEFAULT_CRL_TIMEOUT_MS,
  crlDistributionPoints,
  crlRevocationStatus,
  crlSignedBy,
  defaultCrlCache,
  downloadCrl,
  httpCrlUrls,
  parseCrl,
} from './crl-fetcher';
