/**
 * Installer `postfix`: Postfix smtpd TLS.
 *
 * Writes `cert.pem`, `chain.pem`, `fullchain.pem`, `key.pem` (0600). Use
 * `smtpd_tls_chain_files = <dir>/key.pem, <dir>/fullchain.pem` (Postfix ≥ 3.4) or the older
 * `smtpd_tls_cert_file`/`smtpd_tls_key_file` pair. Probe with `starttls: 'smtp'`.
 *
 * Commands (override with `commands.postfix`): validate `postfix check`, reload `postfix reload`.
 * Hook: `reload-postfix`.
 */
import type { CommandPresets, InstallerDefinition } from './installer';
import { resolveCommands } from './installer';
import { pemSetOf } from './pem-files';

export const POSTFIX_PRESETS: CommandPresets = {
  validate: ['postfix', 'check'],
  reload: ['postfix', 'reload'],
};

export const postfix: InstallerDefinition = {
  type: 'postfix',
  title: 'Postfix',
  hooks: ['reload-postfix'],
  plan(opened, ctx) {
    return { files: pemSetOf(opened, 'postfix').files, ...resolveCommands(POSTFIX_PRESETS, ctx.commands) };
  },
};
