/**
 * The built-in installers, listed explicitly (no directory scanning, STYLE §7.10). The key is the slug, which is
 * also `InstallTarget.installer` and the file name.
 */
import type { InstallerType } from '@certfleet/shared';
import { apache } from './apache';
import { dovecot } from './dovecot';
import { file } from './file';
import { haproxy } from './haproxy';
import type { InstallerDefinition } from './installer';
import { javaKeystore } from './java-keystore';
import { nginx } from './nginx';
import { postfix } from './postfix';

export const installers: readonly InstallerDefinition[] = [
  nginx,
  apache,
  haproxy,
  postfix,
  dovecot,
  javaKeystore,
  file,
];

const byType = new Map<InstallerType, InstallerDefinition>(installers.map((i) => [i.type, i]));

/** The installer for a slug, or undefined. */
export function installerFor(type: InstallerType): InstallerDefinition | undefined {
  return byType.get(type);
}
