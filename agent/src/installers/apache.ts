/**
 * Installer `apache`: Apache httpd 2.4 with mod_ssl.
 *
 * Writes `cert.pem`, `chain.pem`, `fullchain.pem`, `key.pem` (0600). Since 2.4.8 `SSLCertificateFile` may hold the
 * chain: `SSLCertificateFile <dir>/fullchain.pem` and `SSLCertificateKeyFile <dir>/key.pem`.
 *
 * Commands (override with `commands.apache`): validate `apachectl configtest`, reload `apachectl graceful`.
 * Hook: `reload-apache`.
 */
import type { CommandPresets, InstallerDefinition } from './installer';
import { resolveCommands } from './installer';
import { pemSetOf } from './pem-files';

export const APACHE_PRESETS: CommandPresets = {
  validate: ['apachectl', 'configtest'],
  reload: ['apachectl', 'graceful'],
};

export const apache: InstallerDefinition = {
  type: 'apache',
  title: 'Apache httpd (mod_ssl)',
  hooks: ['reload-apache'],
  plan(opened, ctx) {
    return { files: pemSetOf(opened, 'apache').files, ...resolveCommands(APACHE_PRESETS, ctx.commands) };
  },
};
