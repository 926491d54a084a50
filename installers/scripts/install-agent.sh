#!/bin/sh
# install-agent.sh: installs the CertFleet agent (SPEC G5): the single executable built by `npm run build:agent`,
# its systemd unit, a default configuration and the install root.
#
# Usage: install-agent.sh [--binary FILE] [--unit FILE] [--no-systemctl] [--start]
#   --binary FILE    the executable (default: ./certfleet-agent beside this script, else ../dist/certfleet-agent)
#   --unit FILE      the unit (default: ./certfleet-agent.service beside this script, else ../systemd/…)
#   --no-systemctl   do not run systemctl (staging, containers, tests)
#   --start          also (re)start the agent after enabling it
# Environment:
#   PREFIX   installation prefix for the executable (default /usr/local; the unit's ExecStart follows it)
#   DESTDIR  staging root prepended to every path (default empty: install into /). With a DESTDIR, systemctl is
#            never run.
#
# Installs:
#   $PREFIX/bin/certfleet-agent                  0755  (replaced atomically)
#   /etc/systemd/system/certfleet-agent.service  0644
#   /etc/certfleet-agent/                        0750  config directory
#   /etc/certfleet-agent/agent.json              0640  written only if absent (an existing one is kept)
#   /etc/certfleet/                              0755  install root (agent.json `allowedRoots`)
#   /var/lib/certfleet-agent/                    0700  state: identity key, pins, install history
set -eu

PREFIX=${PREFIX:-/usr/local}
DESTDIR=${DESTDIR:-}
here=$(cd "$(dirname "$0")" && pwd)
binary=
unit=
run_systemctl=1
start=0

die() {
  echo "install-agent: $*" >&2
  exit 1
}

while [ $# -gt 0 ]; do
  case $1 in
    --binary) [ $# -ge 2 ] || die "--binary needs a file"; binary=$2; shift 2 ;;
    --unit) [ $# -ge 2 ] || die "--unit needs a file"; unit=$2; shift 2 ;;
    --no-systemctl) run_systemctl=0; shift ;;
    --start) start=1; shift ;;
    -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done

# PREFIX goes into the unit's ExecStart: keep it to a plain absolute path.
case $PREFIX in
  /*) ;;
  *) die "PREFIX must be an absolute path (got '$PREFIX')" ;;
esac
case $PREFIX in
  *[!A-Za-z0-9/._-]*) die "PREFIX may only contain letters, digits and / . _ - (got '$PREFIX')" ;;
esac
PREFIX=${PREFIX%/}
DESTDIR=${DESTDIR%/}
[ -z "$DESTDIR" ] || run_systemctl=0

if [ -z "$binary" ]; then
  for candidate in "$here/certfleet-agent" "$here/../dist/certfleet-agent"; do
    if [ -f "$candidate" ]; then binary=$candidate; break; fi
  done
  [ -n "$binary" ] || die "no executable found; build it with 'npm run build:agent' or pass --binary FILE"
fi
if [ -z "$unit" ]; then
  for candidate in "$here/certfleet-agent.service" "$here/../systemd/certfleet-agent.service"; do
    if [ -f "$candidate" ]; then unit=$candidate; break; fi
  done
  [ -n "$unit" ] || die "no certfleet-agent.service found; pass --unit FILE"
fi
[ -f "$binary" ] || die "$binary does not exist"
[ -f "$unit" ] || die "$unit does not exist"
if [ -z "$DESTDIR" ] && [ "$(id -u)" -ne 0 ]; then
  die "must run as root (or stage into a DESTDIR)"
fi

# The executable must run here and be the agent (not, say, a plain copy of node).
version=$("$binary" --version 2>/dev/null) || die "$binary does not run"
case $version in
  [0-9]*.[0-9]*.[0-9]*) ;;
  *) die "$binary --version printed '$version', not an agent version" ;;
esac

umask 022
bindir=$DESTDIR$PREFIX/bin
unitdir=$DESTDIR/etc/systemd/system
confdir=$DESTDIR/etc/certfleet-agent
installroot=$DESTDIR/etc/certfleet
statedir=$DESTDIR/var/lib/certfleet-agent

echo "install-agent: certfleet-agent $version → $bindir/certfleet-agent"
mkdir -p "$bindir"
# Copy beside the target, then rename: a running agent keeps its old inode and the swap is atomic.
cp "$binary" "$bindir/.certfleet-agent.new"
chmod 0755 "$bindir/.certfleet-agent.new"
mv -f "$bindir/.certfleet-agent.new" "$bindir/certfleet-agent"

echo "install-agent: unit → $unitdir/certfleet-agent.service"
mkdir -p "$unitdir"
sed "s|/usr/local/bin/certfleet-agent|$PREFIX/bin/certfleet-agent|g" "$unit" >"$unitdir/.certfleet-agent.service.new"
chmod 0644 "$unitdir/.certfleet-agent.service.new"
mv -f "$unitdir/.certfleet-agent.service.new" "$unitdir/certfleet-agent.service"

mkdir -p "$confdir"
chmod 0750 "$confdir"
if [ -e "$confdir/agent.json" ]; then
  echo "install-agent: keeping existing $confdir/agent.json"
else
  echo "install-agent: default configuration → $confdir/agent.json"
  (
    umask 027
    cat >"$confdir/agent.json.new" <<'EOF'
{
  "stateDir": "/var/lib/certfleet-agent",
  "allowedRoots": ["/etc/certfleet"]
}
EOF
  )
  chmod 0640 "$confdir/agent.json.new"
  mv -f "$confdir/agent.json.new" "$confdir/agent.json"
fi

mkdir -p "$installroot" "$statedir"
chmod 0755 "$installroot"
chmod 0700 "$statedir"

if [ "$run_systemctl" -eq 1 ]; then
  systemctl daemon-reload
  systemctl enable certfleet-agent.service
  if [ "$start" -eq 1 ]; then systemctl restart certfleet-agent.service; fi
else
  echo "install-agent: systemctl not run (--no-systemctl or DESTDIR)"
fi
echo "install-agent: done. Edit /etc/certfleet-agent/agent.json, then: systemctl start certfleet-agent"
