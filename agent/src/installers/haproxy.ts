/**
 * Installer `haproxy`: HAProxy 2.x.
 *
 * Besides the PEM set it writes `haproxy.pem` (0600): the private key followed by the full chain, the single file
 * HAProxy's `bind … ssl crt <dir>/haproxy.pem` expects.
 *
 * Commands (override with `commands.haproxy`): validate `haproxy -c -f /etc/haproxy/haproxy.cfg`, reload
 * `systemctl reload haproxy`. Hook: `reload-haproxy`.
 */
import type { CommandPresets, InstallerDefinition } from './installer';
import { resolveCommands } from './installer';
import { pemSetOf } from './pem-files';

export const HAPROXY_COMBINED_FILE = 'haproxy.pem';

export const HAPROXY_PRESETS: CommandPresets = {
  validate: ['haproxy', '-c', '-f', '/etc/haproxy/haproxy.cfg'],
  reload: ['systemctl', 'reload', 'haproxy'],
};

function endWithNewline(b: Buffer): Buffer {
  return b.length === 0 || b[b.length - 1] === 0x0a ? b : Buffer.concat([b, Buffer.from('\n')]);
}

export const haproxy: InstallerDefinition = {
  type: 'haproxy',
  title: 'HAProxy',
  hooks: ['reload-haproxy'],
  plan(opened, ctx) {
    const pem = pemSetOf(opened, 'haproxy');
    const combined = Buffer.concat([endWithNewline(pem.key), endWithNewline(pem.fullchain)]);
    return {
      files: [...pem.files, { name: HAPROXY_COMBINED_FILE, contents: combined, mode: 0o600 }],
      ...resolveCommands(HAPROXY_PRESETS, ctx.commands),
    };
  },
};
