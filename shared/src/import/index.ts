// Public surface of the import module (SPEC I1, I3). The per-format extractors stay internal.
export {
  type CertificateSummary,
  type MaterialFormat,
  type ParsedMaterial,
  type ParsedPrivateKey,
  type ParseMaterialOptions,
  MAX_CHAIN_CERTIFICATES,
  MAX_INPUT_BYTES,
  MAX_PKCS12_ITERATIONS,
  assertKeyMatches,
  parseMaterial,
} from './parse-material';
export { type DetectedFormat, detectFormat } from './detect-format';
