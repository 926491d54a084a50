/**
 * Installer `file`: the generic target. Writes the PEM set (`cert.pem`, `chain.pem`, `fullchain.pem`,
 * `key.pem` 0600) and runs only what the operator configured in `commands.file` (`validate`, `reload`); there are
 * no presets. Knows no manifest hooks: a bundle asking for one is refused.
 */
import type { InstallerDefinition } from './installer';
import { resolveCommands } from './installer';
import { pemSetOf } from './pem-files';

export const file: InstallerDefinition = {
  type: 'file',
  title: 'PEM files (+ configured reload)',
  hooks: [],
  plan(opened, ctx) {
    return { files: pemSetOf(opened, 'file').files, ...resolveCommands({}, ctx.commands) };
  },
};
