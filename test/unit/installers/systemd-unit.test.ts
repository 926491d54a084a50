/**
 * The agent's systemd unit, read with a small parser (no systemd needed). systemd's own checks
 * (`systemd-analyze verify` / `security`) run on an installed tree in test/integration/installers.
 */
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';

const unitPath = path.resolve(__dirname, '../../../installers/systemd/certfleet-agent.service');

interface Entry {
  value: string;
  /** Comment lines directly above the key. */
  comment: string;
}
type Unit = Map<string, Map<string, Entry[]>>;

/** Sections → keys → values in order (a key may repeat); comments above a key are kept with it. */
function parseUnit(text: string): Unit {
  const unit: Unit = new Map();
  let section: Map<string, Entry[]> | undefined;
  let comment: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '') {
      comment = [];
    } else if (line.startsWith('#') || line.startsWith(';')) {
      comment.push(line.slice(1).trim());
    } else if (/^\[[A-Za-z]+\]$/.test(line)) {
      section = new Map();
      unit.set(line.slice(1, -1), section);
      comment = [];
    } else {
      const m = /^([A-Za-z]+)=(.*)$/.exec(line);
      if (!m || !section) throw new Error(`not a unit line: ${raw}`);
      const key = m[1] as string;
      section.set(key, [...(section.get(key) ?? []), { value: (m[2] as string).trim(), comment: comment.join(' ') }]);
      comment = [];
    }
  }
  return unit;
}

const text = fs.readFileSync(unitPath, 'utf8');
const unit = parseUnit(text);
const entries = (section: string, key: string): Entry[] => unit.get(section)?.get(key) ?? [];
const value = (section: string, key: string): string | undefined => entries(section, key).at(-1)?.value;
const words = (section: string, key: string): string[] =>
  entries(section, key).flatMap((e) => e.value.split(/\s+/).filter(Boolean));

test('G5 the agent unit starts the installed executable and restarts it on failure', (t) => {
  t.deepEqual([...unit.keys()], ['Unit', 'Service', 'Install']);
  t.is(value('Service', 'Type'), 'simple');
  t.is(value('Service', 'ExecStart'), '/usr/local/bin/certfleet-agent run --config /etc/certfleet-agent/agent.json');
  t.is(value('Service', 'Restart'), 'on-failure');
  t.regex(value('Service', 'RestartSec') ?? '', /^\d+s?$/);
  t.is(value('Install', 'WantedBy'), 'multi-user.target');
  t.true(words('Unit', 'After').includes('network-online.target'));
});

test('G5 the agent unit keeps its state private and the file system read-only except the install root', (t) => {
  t.is(value('Service', 'StateDirectory'), 'certfleet-agent');
  t.is(value('Service', 'StateDirectoryMode'), '0700');
  t.is(value('Service', 'UMask'), '0077');
  t.is(value('Service', 'ProtectSystem'), 'strict');
  t.true(words('Service', 'ReadWritePaths').includes('/etc/certfleet'));
  // Every other writable path is optional ("-") and explained as a relaxation.
  for (const e of entries('Service', 'ReadWritePaths').filter((x) => x.value !== '/etc/certfleet')) {
    t.true(
      e.value.split(/\s+/).every((p) => p.startsWith('-/')),
      e.value
    );
    t.regex(e.comment, /Relaxation/, e.value);
  }
  for (const key of ['ProtectHome', 'PrivateTmp', 'PrivateDevices', 'ProtectKernelTunables', 'ProtectKernelModules']) {
    t.is(value('Service', key), 'yes', key);
  }
  for (const key of ['ProtectKernelLogs', 'ProtectControlGroups', 'NoNewPrivileges', 'LockPersonality']) {
    t.is(value('Service', key), 'yes', key);
  }
});

test('G5 the agent unit restricts sockets, syscalls and capabilities, and explains each relaxation', (t) => {
  t.deepEqual(words('Service', 'RestrictAddressFamilies').sort(), ['AF_INET', 'AF_INET6', 'AF_UNIX']);
  t.regex(entries('Service', 'RestrictAddressFamilies')[0]?.comment ?? '', /Relaxation: AF_UNIX.*systemctl reload/);
  t.is(value('Service', 'SystemCallArchitectures'), 'native');
  t.is(value('Service', 'SystemCallFilter'), '@system-service');
  const caps = words('Service', 'CapabilityBoundingSet');
  t.true(caps.length > 0 && caps.every((c) => /^CAP_[A-Z_]+$/.test(c)));
  for (const forbidden of ['CAP_SYS_ADMIN', 'CAP_SYS_MODULE', 'CAP_NET_ADMIN', 'CAP_SYS_PTRACE', 'CAP_SYS_RAWIO']) {
    t.false(caps.includes(forbidden), forbidden);
  }
  t.regex(entries('Service', 'CapabilityBoundingSet')[0]?.comment ?? '', /Relaxation/);
  // V8's JIT needs executable mappings: the agent aborts under MemoryDenyWriteExecute (integration test shows it).
  t.is(entries('Service', 'MemoryDenyWriteExecute').length, 0);
  t.regex(text, /# Relaxation: MemoryDenyWriteExecute=yes is deliberately NOT set\. V8's JIT/);
  // Node exits on SIGHUP, so a `kill -HUP` ExecReload would stop the agent.
  t.is(entries('Service', 'ExecReload').length, 0);
});
