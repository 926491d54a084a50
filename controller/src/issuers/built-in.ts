import { acmeIssuer } from './acme';
import { internalCaIssuer } from './internal-ca-issuer';
import { manualIssuer } from './manual-issuer';
import type { RegisteredIssuer } from './registry';

/** Every issuer CertFleet ships, listed explicitly (SPIRE's BuiltIns; no scanning, bundle-friendly). */
export const builtInIssuers: readonly RegisteredIssuer[] = [internalCaIssuer, acmeIssuer, manualIssuer];
