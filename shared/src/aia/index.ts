// AIA fetching (SPEC M2, M3, M6): issuers the server did not send, from caIssuers URLs; feeds `CheckContext.aia`.
export {
  type AuthorityInfoAccess,
  authorityInfoAccess,
  certificateExtensions,
  httpAuthorityInfoAccess,
} from './authority-info-access';
export { type BoundedHttpRequest, type BoundedHttpResponse, HttpFetchError, boundedHttp } from './bounded-http';
export {
  type AiaDownload,
  type AiaOptions,
  AiaCache,
  DEFAULT_AIA_CACHE_ENTRIES,
  DEFAULT_AIA_MAX_BYTES,
  DEFAULT_AIA_MAX_DEPTH,
  DEFAULT_AIA_TIMEOUT_MS,
  caIssuersCertificates,
  completeChainViaAia,
  defaultAiaCache,
  downloadCaIssuers,
} from './ca-issuers';
