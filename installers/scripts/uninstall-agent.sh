#!/bin/sh
# uninstall-agent.sh: removes the CertFleet agent installed by install-agent.sh (SPEC G5).
#
# Usage: uninstall-agent.sh [--purge] [--no-systemctl]
#   --purge          also delete the agent's identity and state (/var/lib/certfleet-agent) and its configuration
#                    (/etc/certfleet-agent). Without it both are kept, so a reinstall keeps its enrollment.
#   --no-systemctl   do not run systemctl (staging, containers, tests)
# Environment: PREFIX (default /usr/local) and DESTDIR (default empty), as for install-agent.sh.
#
# Never removed: /etc/certfleet, the install root. The certificates and keys in it are in use by the servers
# the agent installed them for (nginx, apache …); remove them yourself once those no longer refer to them.
set -eu

PREFIX=${PREFIX:-/usr/local}
DESTDIR=${DESTDIR:-}
purge=0
run_systemctl=1

die() {
  echo "uninstall-agent: $*" >&2
  exit 1
}

while [ $# -gt 0 ]; do
  case $1 in
    --purge) purge=1; shift ;;
    --no-systemctl) run_systemctl=0; shift ;;
    -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done

case $PREFIX in
  /*) ;;
  *) die "PREFIX must be an absolute path (got '$PREFIX')" ;;
esac
PREFIX=${PREFIX%/}
DESTDIR=${DESTDIR%/}
[ -z "$DESTDIR" ] || run_systemctl=0
if [ -z "$DESTDIR" ] && [ "$(id -u)" -ne 0 ]; then
  die "must run as root (or work on a DESTDIR)"
fi

unitfile=$DESTDIR/etc/systemd/system/certfleet-agent.service
if [ "$run_systemctl" -eq 1 ] && [ -e "$unitfile" ]; then
  # Stop first so that nothing writes state while it is removed.
  systemctl disable --now certfleet-agent.service || echo "uninstall-agent: could not stop the agent (continuing)" >&2
fi

rm -f "$DESTDIR$PREFIX/bin/certfleet-agent" "$unitfile"
echo "uninstall-agent: removed $DESTDIR$PREFIX/bin/certfleet-agent and $unitfile"
if [ "$run_systemctl" -eq 1 ]; then systemctl daemon-reload; fi

if [ "$purge" -eq 1 ]; then
  rm -rf "$DESTDIR/var/lib/certfleet-agent" "$DESTDIR/etc/certfleet-agent"
  echo "uninstall-agent: purged $DESTDIR/var/lib/certfleet-agent (identity, state) and $DESTDIR/etc/certfleet-agent"
else
  echo "uninstall-agent: kept $DESTDIR/var/lib/certfleet-agent and $DESTDIR/etc/certfleet-agent (use --purge to delete)"
fi
echo "uninstall-agent: kept $DESTDIR/etc/certfleet (certificates in use by your servers)"
