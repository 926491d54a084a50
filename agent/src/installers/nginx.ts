/**
 * Installer `nginx`: NGINX (any build with the ssl module).
 *
 * Writes `cert.pem`, `chain.pem`, `fullchain.pem`, `key.pem` (0600) into the version directory. Point the server at
 * the live directory: `ssl_certificate <dir>/fullchain.pem; ssl_certificate_key <dir>/key.pem;`.
 *
 * Commands (override with `commands.nginx` in the agent config): validate `nginx -t`, reload
 * `systemctl reload nginx`. Hook: `reload-nginx`.
 */
import type { CommandPresets, InstallerDefinition } from './installer';
import { resolveCommands } from './installer';
import { pemSetOf } from './pem-files';

export const NGINX_PRESETS: CommandPresets = {
  validate: ['nginx', '-t'],
  reload: ['systemctl', 'reload', 'nginx'],
};

export const nginx: InstallerDefinition = {
  type: 'nginx',
  title: 'NGINX',
  hooks: ['reload-nginx'],
  plan(opened, ctx) {
    return { files: pemSetOf(opened, 'nginx').files, ...resolveCommands(NGINX_PRESETS, ctx.commands) };
  },
};
