/**
 * Crash injection for the install executor's kill -9 tests (SPEC D2).
 *
 * When the environment variable `CERTFLEET_AGENT_CRASH_AT` equals the name passed to {@link crashPoint}, the
 * process sends itself SIGKILL at that point: no `finally`, no exit handlers, no flush, exactly like a power cut
 * of the agent alone. Unset (production), every call is a string comparison and nothing else.
 *
 * The install executor (`installers/apply-plan.ts`) declares these points, in the order they are reached:
 *
 * | name                       | where                                                                      |
 * |----------------------------|----------------------------------------------------------------------------|
 * | `lock-acquired`            | the per-directory lock file has just been created                          |
 * | `recovered`                | leftovers of an earlier crash were cleaned up                              |
 * | `stage-created`            | the staging directory `.tmp-*` exists, still empty                         |
 * | `before-write:<file>`      | before creating `<file>` (e.g. `before-write:key.pem`)                     |
 * | `mid-write:<file>`         | half of `<file>`'s bytes written, not yet fsynced                          |
 * | `after-write:<file>`       | `<file>` written, fsynced, chmodded and closed                             |
 * | `after-prepare`            | conversion commands (keytool) done                                         |
 * | `after-fsync-stage`        | every file and the staging directory fsynced                               |
 * | `after-stage-rename`       | the staging directory renamed to its version name                          |
 * | `after-journal`            | the install journal (previous → next) is on disk                           |
 * | `after-temp-link`          | the temporary symlink to the new version exists                            |
 * | `after-switch`             | the live symlink points to the new version (rename done, parent fsynced)   |
 * | `after-validate`           | the validate command succeeded                                             |
 * | `after-reload`             | the reload command succeeded                                               |
 * | `after-probe`              | the probe saw the new certificate                                          |
 * | `before-rollback`          | a step failed after the switch; nothing restored yet                       |
 * | `after-rollback-switch`    | the live symlink points to the previous version again                      |
 * | `after-rollback-reload`    | the reload after the rollback ran                                          |
 * | `after-prune`              | old version directories were pruned                                        |
 * | `before-unlock`            | everything done except removing the journal and the lock                    |
 *
 * Whatever the point, the next install into the same directory finds the live directory entirely old or
 * entirely new and recovers (journal → previous version, stale staging directories and temporary links removed).
 */

/** The environment variable naming the crash point. */
export const CRASH_POINT_ENV = 'CERTFLEET_AGENT_CRASH_AT';

/** The fixed crash point names of the install executor (per-file points are `before-write:<file>` etc.). */
export const INSTALL_CRASH_POINTS = [
  'lock-acquired',
  'recovered',
  'stage-created',
  'after-prepare',
  'after-fsync-stage',
  'after-stage-rename',
  'after-journal',
  'after-temp-link',
  'after-switch',
  'after-validate',
  'after-reload',
  'after-probe',
  'before-rollback',
  'after-rollback-switch',
  'after-rollback-reload',
  'after-prune',
  'before-unlock',
] as const;

/** SIGKILLs this process when `CERTFLEET_AGENT_CRASH_AT` equals `name`; otherwise does nothing. */
export function crashPoint(name: string): void {
  if (process.env[CRASH_POINT_ENV] === name) process.kill(process.pid, 'SIGKILL');
}
