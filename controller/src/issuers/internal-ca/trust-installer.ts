/**
 * internal-ca: the trust installer script for Linux hosts (SPEC C6). Pure: builds text, runs nothing.
 *
 * The script is POSIX `sh` (dash, busybox ash, bash) and:
 * - refuses to run unless root (or unless `CERTFLEET_TRUST_ROOT` points at a prefix, for tests and image builds);
 * - checks the SHA-256 of the embedded PEM (coreutils `sha256sum`, or `shasum`/`openssl` when that is missing)
 *   before writing anything, and, when `openssl` exists, the certificate's DER fingerprint too;
 * - installs into the first trust store it finds: Debian/Ubuntu `/usr/local/share/ca-certificates/<file>.crt` +
 *   `update-ca-certificates`, RHEL/Fedora/CentOS `/etc/pki/ca-trust/source/anchors/<file>.crt` +
 *   `update-ca-trust extract`;
 * - is idempotent: an identical installed file means "already installed", nothing is rewritten or refreshed;
 * - writes atomically (temporary file in the same directory, then `mv`), mode 0644.
 *
 * With `CERTFLEET_TRUST_ROOT=/some/dir` every path is taken under that prefix and the refresh tool is run only
 * if it exists under the prefix too (`$ROOT/usr/sbin/update-ca-certificates`, `$ROOT/usr/bin/update-ca-trust`),
 * so a test never touches the real system trust store.
 */
import { X509Certificate, createHash } from 'node:crypto';
import { CertFleetError, decodePem, encodePem } from '@certfleet/shared';

/** A file-name-safe slug: lower-case letters, digits and hyphens, 1..60 characters. */
export function trustFileSlug(name: string): string {
  const slug = name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 60)
    .replace(/-+$/, '');
  return slug || 'ca';
}

/** Text safe inside a `#` comment line: printable, single line. */
function commentSafe(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f]/g, ' ').slice(0, 200);
}

/**
 * The installer script for one CA certificate.
 *
 * @param caPem the CA certificate (PEM; only the first certificate is used)
 * @param name a label for the file name (`certfleet-<slug>.crt`) and the messages
 * @throws CertFleetError `CF_VALIDATION` when `caPem` holds no CA certificate
 * @example fs.writeFileSync('install-ca.sh', trustInstallerScript(caPem, 'CertFleet Root CA'), { mode: 0o755 });
 */
export function trustInstallerScript(caPem: string, name: string): string {
  let cert: X509Certificate;
  try {
    const block = decodePem(caPem).find((b) => b.label === 'CERTIFICATE');
    if (!block) throw new Error('no CERTIFICATE block');
    cert = new X509Certificate(block.der);
  } catch (err) {
    throw new CertFleetError('CF_VALIDATION', 'internal-ca(trust): caPem holds no readable certificate', {
      cause: err,
    });
  }
  if (!cert.ca) throw new CertFleetError('CF_VALIDATION', 'internal-ca(trust): the certificate is not a CA');
  const pem = encodePem('CERTIFICATE', cert.raw);
  const pemSha256 = createHash('sha256').update(pem).digest('hex');
  const derSha256 = createHash('sha256').update(cert.raw).digest('hex');
  const file = `certfleet-${trustFileSlug(name)}.crt`;
  const subject = commentSafe(cert.subject.replace(/\n/g, ', '));

  return `#!/bin/sh
# CertFleet trust installer (SPEC C6): adds one CA certificate to this host's system trust store.
#   CA:        ${commentSafe(name)}
#   subject:   ${subject}
#   valid:     ${commentSafe(cert.validFrom)} .. ${commentSafe(cert.validTo)}
#   SHA-256:   ${derSha256} (DER fingerprint)
# Supports Debian/Ubuntu (update-ca-certificates) and RHEL/Fedora/CentOS (update-ca-trust).
# Run as root: sudo sh ./this-script.sh   (CERTFLEET_TRUST_ROOT=/dir installs under a prefix, for image builds)
# Idempotent: running it again changes nothing. Exit codes: 0 ok, 1 not root, 2 checksum mismatch,
# 3 no supported trust store, 4 refresh failed.
set -eu

CA_FILE='${file}'
CA_PEM_SHA256='${pemSha256}'
CA_DER_SHA256='${derSha256}'
ROOT="\${CERTFLEET_TRUST_ROOT:-}"

say() { printf 'certfleet-trust: %s\\n' "$*"; }
die() { code=$1; shift; printf 'certfleet-trust: error: %s\\n' "$*" >&2; exit "$code"; }

if [ -z "$ROOT" ] && [ "$(id -u)" != "0" ]; then
  die 1 "must be run as root (try: sudo sh $0)"
fi

TMPDIR_CF=$(mktemp -d "\${TMPDIR:-/tmp}/certfleet-trust.XXXXXX")
trap 'rm -rf "$TMPDIR_CF"' EXIT
trap 'exit 130' INT TERM HUP
PEM="$TMPDIR_CF/ca.pem"
cat > "$PEM" <<'CERTFLEET_CA_PEM_EOF'
${pem.trimEnd()}
CERTFLEET_CA_PEM_EOF

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1
  elif command -v shasum >/dev/null 2>&1; then shasum -a 256 "$1" | cut -d' ' -f1
  elif command -v openssl >/dev/null 2>&1; then openssl dgst -sha256 -r "$1" | cut -d' ' -f1
  else die 2 "no sha256sum, shasum or openssl to check the certificate"
  fi
}

actual=$(sha256_of "$PEM")
[ "$actual" = "$CA_PEM_SHA256" ] || die 2 "embedded certificate is corrupt (SHA-256 $actual, expected $CA_PEM_SHA256)"
if command -v openssl >/dev/null 2>&1; then
  fp=$(openssl x509 -in "$PEM" -outform DER | openssl dgst -sha256 -r | cut -d' ' -f1)
  [ "$fp" = "$CA_DER_SHA256" ] || die 2 "certificate fingerprint $fp does not match $CA_DER_SHA256"
fi

# Pick the trust store: Debian family first, then the RHEL family.
if [ -d "$ROOT/usr/local/share/ca-certificates" ] || [ -x "$ROOT/usr/sbin/update-ca-certificates" ] ||
   { [ -z "$ROOT" ] && command -v update-ca-certificates >/dev/null 2>&1; }; then
  DIR="$ROOT/usr/local/share/ca-certificates"
  FAMILY=debian
elif [ -d "$ROOT/etc/pki/ca-trust/source/anchors" ] || [ -x "$ROOT/usr/bin/update-ca-trust" ] ||
     { [ -z "$ROOT" ] && command -v update-ca-trust >/dev/null 2>&1; }; then
  DIR="$ROOT/etc/pki/ca-trust/source/anchors"
  FAMILY=rhel
else
  die 3 "no supported trust store found (install the ca-certificates package)"
fi

TARGET="$DIR/$CA_FILE"
if [ -f "$TARGET" ] && cmp -s "$PEM" "$TARGET"; then
  say "already installed: $TARGET"
  exit 0
fi

umask 022
mkdir -p "$DIR"
NEW="$DIR/.$CA_FILE.$$"
cp "$PEM" "$NEW"
chmod 0644 "$NEW"
mv -f "$NEW" "$TARGET"
say "installed $TARGET"

refresh() {
  # Under a test prefix only a tool inside the prefix is run; on a real host the system's own.
  tool=$1; shift
  if [ -x "$ROOT$tool" ]; then "$ROOT$tool" "$@"
  elif [ -z "$ROOT" ] && command -v "$(basename "$tool")" >/dev/null 2>&1; then "$(basename "$tool")" "$@"
  elif [ -n "$ROOT" ]; then say "prefix $ROOT has no $tool: trust store not refreshed"; return 0
  else return 127
  fi
}

if [ "$FAMILY" = debian ]; then
  refresh /usr/sbin/update-ca-certificates >/dev/null || die 4 "update-ca-certificates failed"
else
  refresh /usr/bin/update-ca-trust extract || die 4 "update-ca-trust extract failed"
fi
say "trust store refreshed ($FAMILY)"
`;
}
