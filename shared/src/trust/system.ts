/**
 * The system-defined trust set (SPEC T1): the Mozilla root store as packaged by Debian's `ca-certificates`
 * (`/etc/ssl/certs/ca-certificates.crt`), with the package version recorded so a verdict can say which store it
 * was judged against. Parsed once per process and cached; the version is read lazily with
 * `dpkg-query -W -f='${Version}' ca-certificates`, falling back to the first line of
 * `/usr/share/doc/ca-certificates/changelog.gz`, then to `unknown (…)`.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { type TrustSet, parsePemCertificates, trustSetFromCertificates } from './trust-set';

/** Debian's bundle of the Mozilla roots. */
export const SYSTEM_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';
const CHANGELOG = '/usr/share/doc/ca-certificates/changelog.gz';

/** Name of the shipped set. */
export const SYSTEM_TRUST_SET_NAME = 'system';

let cached: TrustSet | undefined;

/** Options for tests and unusual layouts; production code calls `systemTrustSet()` with none. */
export interface SystemTrustSetOptions {
  /** @default SYSTEM_CA_BUNDLE */
  bundlePath?: string;
  /** Overrides the version lookup (tests). */
  version?: string;
}

/**
 * The shipped Mozilla root store. The first call reads and parses the bundle (≈ 150 roots, a few ms); later calls
 * return the same object. Calls with options are not cached.
 * @throws Error when the bundle is missing or holds no certificate (the package is not installed).
 */
export function systemTrustSet(options?: SystemTrustSetOptions): TrustSet {
  if (options === undefined && cached) return cached;
  const bundlePath = options?.bundlePath ?? SYSTEM_CA_BUNDLE;
  let text: string;
  try {
    text = readFileSync(bundlePath, 'utf8');
  } catch (cause) {
    throw new Error(`trust(system): cannot read ${bundlePath} (is the ca-certificates package installed?)`, {
      cause,
    });
  }
  const { certificates } = parsePemCertificates([text]);
  if (certificates.length === 0) throw new Error(`trust(system): no certificate in ${bundlePath}`);
  const set = trustSetFromCertificates(SYSTEM_TRUST_SET_NAME, certificates, {
    version: options?.version ?? caCertificatesVersion(),
    source: 'system',
    origin: `${bundlePath} (Mozilla root store, Debian ca-certificates)`,
  });
  if (options === undefined) cached = set;
  return set;
}

/** The installed ca-certificates package version, or `unknown (…why…)`. Never throws. */
export function caCertificatesVersion(): string {
  try {
    const out = execFileSync('dpkg-query', ['-W', '-f=${Version}', 'ca-certificates'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 5_000,
    }).trim();
    if (out) return out;
  } catch {
    /* no dpkg (non-Debian host, distroless image): try the changelog */
  }
  try {
    const first = gunzipSync(readFileSync(CHANGELOG)).toString('utf8').split('\n', 1)[0] ?? '';
    const m = /^ca-certificates \(([^)]+)\)/.exec(first);
    if (m?.[1]) return m[1];
  } catch {
    /* no changelog either */
  }
  return 'unknown (dpkg-query and the package changelog unavailable)';
}
