/**
 * Installer `dovecot`: Dovecot IMAP/POP3 TLS.
 *
 * Writes `cert.pem`, `chain.pem`, `fullchain.pem`, `key.pem` (0600). Use `ssl_cert = <<dir>/fullchain.pem` and
 * `ssl_key = <<dir>/key.pem`. Probe with `starttls: 'imap'` or `'pop3'` (or the implicit-TLS ports directly).
 *
 * Commands (override with `commands.dovecot`): validate `doveconf -n`, reload `doveadm reload`.
 * Hook: `reload-dovecot`.
 */
import type { CommandPresets, InstallerDefinition } from './installer';
import { resolveCommands } from './installer';
import { pemSetOf } from './pem-files';

export const DOVECOT_PRESETS: CommandPresets = {
  validate: ['doveconf', '-n'],
  reload: ['doveadm', 'reload'],
};

export const dovecot: InstallerDefinition = {
  type: 'dovecot',
  title: 'Dovecot',
  hooks: ['reload-dovecot'],
  plan(opened, ctx) {
    return { files: pemSetOf(opened, 'dovecot').files, ...resolveCommands(DOVECOT_PRESETS, ctx.commands) };
  },
};
