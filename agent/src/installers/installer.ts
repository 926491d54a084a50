/**
 * Installer plugins (SPEC D2, STYLE §7.4): each server type is a small, typed, **pure** planner that turns an
 * opened bundle into the files to place in a fresh version directory and the argv to validate and reload the
 * server. One impure executor (`apply-plan.ts`) applies any plan: it writes, switches, validates, reloads, probes
 * and rolls back. A planner never touches the disk, the network or the clock, so it is unit-tested with no host.
 */
import type { BundleHook, InstallTarget, InstallerType, OpenedBundle } from '@certfleet/shared';
import type { InstallerCommands } from '../config';
import type { Command } from '../platform/exec';

export type { Command } from '../platform/exec';

/** One file written into the version directory (a plain name: no directories). */
export interface PlannedFile {
  name: string;
  contents: Buffer;
  /** Final permission bits. Files are created 0600 and only widened after their contents are on disk. */
  mode: number;
}

/**
 * A command run in the staging directory (cwd) after the files are written and before the switch, which must
 * leave the files it `produces` there (e.g. `keytool -importkeystore` writing `keystore.jks`).
 */
export interface PrepareStep {
  command: Command;
  produces: { name: string; mode: number }[];
}

/** What the executor applies. */
export interface InstallPlan {
  files: PlannedFile[];
  prepare?: PrepareStep[];
  /** Config test run after the switch; absent = none. */
  validate?: Command;
  /** Makes the server pick up the new files; absent = none (e.g. a `file` target without a configured reload). */
  reload?: Command;
}

/** What a planner may use besides the bundle: all values, no handles. */
export interface PlanContext {
  target: InstallTarget;
  /** The operator's overrides for this installer (`config.commands[type]`). */
  commands?: InstallerCommands;
  /** java-keystore: the keystore password (first line of `config.keystorePasswordFile`), read by the executor. */
  keystorePassword?: string;
  /** java-keystore: the password file itself, handed to keytool as `-…storepass:file` (never on the argv). */
  keystorePasswordFile?: string;
}

export interface InstallerDefinition {
  /** The slug: file name, registry key and `InstallTarget.installer`. */
  type: InstallerType;
  title: string;
  /** Manifest hooks this installer implements; a bundle asking for any other hook is refused before any write. */
  hooks: readonly BundleHook[];
  /**
   * Pure: the same bundle and context give an equivalent plan (keystores differ only in random salts/IVs).
   * @throws CertFleetError `CF_VALIDATION` when the bundle lacks what the installer needs
   */
  plan(opened: OpenedBundle, ctx: PlanContext): InstallPlan;
}

/** Preset validate/reload argv of an installer. */
export interface CommandPresets {
  validate?: Command;
  reload?: Command;
}

/**
 * Applies the operator's overrides to the presets: a configured `validate` replaces the preset (an empty array
 * means "no validation"); a configured `reload` replaces the preset reload.
 */
export function resolveCommands(
  presets: CommandPresets,
  overrides: InstallerCommands | undefined
): Pick<InstallPlan, 'validate' | 'reload'> {
  const out: Pick<InstallPlan, 'validate' | 'reload'> = {};
  const validate = overrides?.validate !== undefined ? asCommand(overrides.validate) : presets.validate;
  const reload = overrides?.reload !== undefined ? asCommand(overrides.reload) : presets.reload;
  if (validate) out.validate = validate;
  if (reload) out.reload = reload;
  return out;
}

function asCommand(argv: readonly string[]): Command | undefined {
  const [first, ...rest] = argv;
  return first === undefined ? undefined : [first, ...rest];
}
