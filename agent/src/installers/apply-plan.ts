/**
 * The one impure install executor (SPEC D2, STYLE §7.4): applies an installer's plan to the host.
 *
 * Layout beside the live directory `<parent>/<name>` (the path the server config points at):
 * ```
 * <parent>/<name>                      symlink → .<name>.versions/<version>-<bundleId8>   (switched atomically)
 * <parent>/.<name>.versions/<v>-<id>/  one complete, fsynced directory per installed version (last 3 kept)
 * <parent>/.<name>.lock                one install at a time per directory (holds the installer's pid)
 * <parent>/.<name>.journal.json        { previous, next } while a switch may be unconfirmed
 * ```
 * Order: refuse early (target, hooks, allowed roots, plan) → lock → recover a crashed install → stage every file
 * (O_CREAT|O_EXCL|O_NOFOLLOW, 0600 at creation, fsync) → rename the staging directory to its version name →
 * journal → switch the symlink (temp link + rename, fsync parent) → validate → reload → probe until the served
 * leaf matches → forget the journal, prune. A failure after the switch puts the previous link back (or removes
 * the link on a first install), reloads again and reports `rolledBack: true`. A crash anywhere (see
 * `platform/crash-point.ts`) leaves the live directory entirely old or entirely new; the next install restores the
 * journal's previous version and deletes staging leftovers before it starts.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { atomicWriteFileSync, type InstallTarget, type OpenedBundle } from '@certfleet/shared';
import type { AgentConfig } from '../config';
import { crashPoint } from '../platform/crash-point';
import { describeExecResult, runCommand, type Command, type ExecResult } from '../platform/exec';
import { probeServedLeaf, type ServedLeafProbeOptions, type ServedLeafResult } from '../probes/served-leaf';
import type { InstallPlan, InstallerDefinition } from './installer';
import { installerFor } from './registry';

/** Stable, CamelCase outcome reasons (STYLE §7.2). */
export type InstallReason =
  | 'Installed'
  | 'AlreadyInstalled'
  | 'InstallTargetMissing'
  | 'InstallTargetNotAllowed'
  | 'InstallTargetNotSymlink'
  | 'InstallHookNotAllowed'
  | 'InstallPlanInvalid'
  | 'InstallLocked'
  | 'InstallWriteFailed'
  | 'InstallPrepareFailed'
  | 'InstallValidateFailed'
  | 'InstallReloadFailed'
  | 'InstallProbeMismatch'
  | 'InstallProbeFailed';

export interface InstallOutcome {
  status: 'installed' | 'failed';
  /** The probe saw the bundle's leaf being served. False when no probe is configured. */
  verified: boolean;
  reason: InstallReason;
  message: string;
  /** SHA-256 of the leaf last seen by the probe. */
  servedSha256?: string;
  /** Tail (≤ 4 KiB) of the failing command's stderr (or stdout when stderr was empty). */
  stderrTail?: string;
  /** The live directory was put back to what it was before this install. */
  rolledBack: boolean;
  /** The version directory now live (on success). */
  versionDirectory?: string;
}

export interface InstallOptions {
  /** Wait at most this long for another install into the same directory. @default 30000 */
  lockTimeoutMs?: number;
  /** Pause between probe attempts. @default 200 */
  probeIntervalMs?: number;
  /** Version directories kept, the live one included. @default 3 */
  keepVersions?: number;
  /** Probe implementation (tests). @default probeServedLeaf */
  probe?: (opts: ServedLeafProbeOptions) => Promise<ServedLeafResult>;
}

/** The paths the executor manages for one live directory. */
export interface TargetLayout {
  /** The live symlink (under the real path of its parent). */
  live: string;
  parent: string;
  base: string;
  versions: string;
  lockFile: string;
  journalFile: string;
}

/** Paths beside `directory` (whose parent is already resolved to its real path). */
export function targetLayout(directory: string): TargetLayout {
  const parent = path.dirname(directory);
  const base = path.basename(directory);
  return {
    live: directory,
    parent,
    base,
    versions: path.join(parent, `.${base}.versions`),
    lockFile: path.join(parent, `.${base}.lock`),
    journalFile: path.join(parent, `.${base}.journal.json`),
  };
}

interface Journal {
  previous: string | null;
  next: string;
  pid: number;
}

const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
const STAGE_PREFIX = '.tmp-';

class InstallFailure extends Error {
  constructor(
    readonly reason: InstallReason,
    message: string,
    readonly stderrTail?: string
  ) {
    super(message);
  }
}

function failed(reason: InstallReason, message: string, extra: Partial<InstallOutcome> = {}): InstallOutcome {
  return { status: 'failed', verified: false, reason, message, rolledBack: false, ...extra };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function isWithin(child: string, root: string): boolean {
  return child === root || child.startsWith(root.endsWith(path.sep) ? root : root + path.sep);
}

/**
 * Resolves the live directory under the real path of its existing parent, and checks that parent lies inside an
 * allowed root (also resolved), so neither `..` nor a symlinked parent can lead outside the roots.
 */
export function resolveAllowedDirectory(directory: string, allowedRoots: readonly string[]): string {
  if (!path.isAbsolute(directory) || path.normalize(directory) !== directory || directory.endsWith('/')) {
    throw new InstallFailure('InstallTargetNotAllowed', `agent: install directory ${directory} is not a normal path`);
  }
  let realParent: string;
  try {
    realParent = fs.realpathSync(path.dirname(directory));
  } catch {
    throw new InstallFailure('InstallTargetNotAllowed', `agent: the parent of ${directory} does not exist`);
  }
  for (const root of allowedRoots) {
    let realRoot: string;
    try {
      realRoot = fs.realpathSync(root);
    } catch {
      continue;
    }
    if (isWithin(realParent, realRoot)) return path.join(realParent, path.basename(directory));
  }
  throw new InstallFailure(
    'InstallTargetNotAllowed',
    `agent: ${directory} is outside the allowed roots (${allowedRoots.join(', ')})`
  );
}

/** The version name the live symlink points to, null when it does not exist; refuses anything not ours. */
function currentVersion(layout: TargetLayout): string | null {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(layout.live);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  if (!st.isSymbolicLink()) {
    throw new InstallFailure(
      'InstallTargetNotSymlink',
      `agent: ${layout.live} exists and is not a symlink managed by CertFleet; move it away (operator files are never overwritten)`
    );
  }
  const target = fs.readlinkSync(layout.live);
  const prefix = `.${layout.base}.versions/`;
  const name = target.startsWith(prefix) ? target.slice(prefix.length) : '';
  if (!FILE_NAME.test(name)) {
    throw new InstallFailure(
      'InstallTargetNotSymlink',
      `agent: ${layout.live} is a symlink to ${target}, not to a CertFleet version directory`
    );
  }
  return name;
}

/** Points the live symlink at `.<base>.versions/<name>` atomically (temp link + rename), then fsyncs the parent. */
function switchLink(layout: TargetLayout, name: string, crash: boolean): void {
  const tmp = path.join(layout.parent, `.${layout.base}.tmp-link-${process.pid}-${randomBytes(4).toString('hex')}`);
  fs.symlinkSync(`.${layout.base}.versions/${name}`, tmp);
  if (crash) crashPoint('after-temp-link');
  try {
    fs.renameSync(tmp, layout.live);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  fsyncDir(layout.parent);
}

function readJournal(file: string): Journal | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const j = JSON.parse(text) as Partial<Journal>;
    if (typeof j.next === 'string' && (j.previous === null || typeof j.previous === 'string')) {
      return { previous: j.previous, next: j.next, pid: Number(j.pid) };
    }
  } catch {
    // a torn journal cannot exist (atomic write); treat garbage as absent
  }
  return undefined;
}

function removeJournal(layout: TargetLayout): void {
  fs.rmSync(layout.journalFile, { force: true });
  fsyncDir(layout.parent);
}

// ---------------------------------------------------------------------------------------------------------------
// Lock: an in-process queue per directory plus an O_EXCL lock file holding the pid (stale when that pid is gone).

const inProcess = new Map<string, Promise<unknown>>();
/** Lock files this process holds right now (a lock with our pid that is not here was left by an earlier process). */
const held = new Set<string>();

function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function acquireLockFile(lockFile: string, timeoutMs: number): Promise<() => void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const fd = fs.openSync(
        lockFile,
        fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY | fs.constants.O_NOFOLLOW,
        0o600
      );
      try {
        fs.writeSync(fd, `${process.pid}\n`);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      held.add(lockFile);
      return () => {
        held.delete(lockFile);
        fs.rmSync(lockFile, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let holder = NaN;
    let ageMs = 0;
    try {
      holder = Number.parseInt(fs.readFileSync(lockFile, 'utf8'), 10);
      ageMs = Date.now() - fs.lstatSync(lockFile).mtimeMs;
    } catch {
      continue; // released meanwhile
    }
    // A holder that died (kill -9, power loss) leaves its lock behind; an empty one is a crash between open and write.
    // Our own pid on a lock we do not hold is an earlier incarnation (containers restart the agent as the same pid).
    const stale = Number.isNaN(holder)
      ? ageMs > 2000
      : holder === process.pid
        ? !held.has(lockFile)
        : !pidAlive(holder);
    if (stale) {
      fs.rmSync(lockFile, { force: true });
      continue;
    }
    if (Date.now() >= deadline) {
      throw new InstallFailure('InstallLocked', `agent: another install into this directory holds ${lockFile}`);
    }
    await sleep(100);
  }
}

async function withDirectoryLock<T>(layout: TargetLayout, timeoutMs: number, fn: () => Promise<T>): Promise<T> {
  const before = inProcess.get(layout.lockFile) ?? Promise.resolve();
  const run = before.then(
    () => undefined,
    () => undefined
  );
  const result = run.then(async () => {
    const release = await acquireLockFile(layout.lockFile, timeoutMs);
    crashPoint('lock-acquired');
    try {
      return await fn();
    } finally {
      crashPoint('before-unlock');
      release();
    }
  });
  inProcess.set(layout.lockFile, result);
  try {
    return await result;
  } finally {
    if (inProcess.get(layout.lockFile) === result) inProcess.delete(layout.lockFile);
  }
}

// ---------------------------------------------------------------------------------------------------------------

/**
 * Undoes what a crashed install left: restores the journal's previous version (the switch may or may not have
 * happened), deletes the half-installed version, staging directories, temporary links and journal temp files.
 * Must run under the directory lock. Returns true when the live link was restored.
 */
export function recoverInterruptedInstall(layout: TargetLayout): boolean {
  let restored = false;
  const journal = readJournal(layout.journalFile);
  if (journal) {
    let live: string | null | undefined;
    try {
      live = currentVersion(layout);
    } catch {
      live = undefined; // not ours any more: leave it alone (the install then refuses it)
    }
    if (live !== undefined) {
      if (journal.previous !== null && live !== journal.previous) {
        switchLink(layout, journal.previous, false);
        restored = true;
      } else if (journal.previous === null && live !== null) {
        fs.rmSync(layout.live, { force: true });
        fsyncDir(layout.parent);
        restored = true;
      }
    }
    if (journal.next !== journal.previous && FILE_NAME.test(journal.next)) {
      fs.rmSync(path.join(layout.versions, journal.next), { recursive: true, force: true });
    }
    removeJournal(layout);
  }
  for (const entry of safeReaddir(layout.parent)) {
    const stray =
      entry.startsWith(`.${layout.base}.tmp-link-`) ||
      (entry.startsWith(`.${layout.base}.journal.json.`) && entry.endsWith('.tmp'));
    if (stray) fs.rmSync(path.join(layout.parent, entry), { force: true });
  }
  for (const entry of safeReaddir(layout.versions)) {
    if (entry.startsWith(STAGE_PREFIX)) fs.rmSync(path.join(layout.versions, entry), { recursive: true, force: true });
  }
  return restored;
}

function safeReaddir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

/** Keeps the live version and the newest others up to `keep` in total; removes the rest. */
function pruneVersions(layout: TargetLayout, liveName: string, keep: number): void {
  const others = safeReaddir(layout.versions)
    .filter((n) => n !== liveName && !n.startsWith(STAGE_PREFIX))
    .map((n) => {
      try {
        return { n, t: fs.lstatSync(path.join(layout.versions, n)).mtimeMs };
      } catch {
        return { n, t: 0 };
      }
    })
    .sort((a, b) => b.t - a.t);
  for (const { n } of others.slice(Math.max(0, keep - 1))) {
    fs.rmSync(path.join(layout.versions, n), { recursive: true, force: true });
  }
}

/** uid/gid of a user from /etc/passwd (the agent runs on POSIX hosts; no NSS lookups). */
function lookupOwner(name: string): { uid: number; gid: number } {
  const passwd = fs.readFileSync('/etc/passwd', 'utf8');
  for (const line of passwd.split('\n')) {
    const [user, , uid, gid] = line.split(':');
    if (user === name && uid !== undefined && gid !== undefined) return { uid: Number(uid), gid: Number(gid) };
  }
  throw new Error(`unknown fileOwner ${name}`);
}

function writeNewFile(
  dir: string,
  name: string,
  contents: Buffer,
  mode: number,
  owner: { uid: number; gid: number } | undefined
): void {
  crashPoint(`before-write:${name}`);
  const fd = fs.openSync(
    path.join(dir, name),
    fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW | fs.constants.O_WRONLY,
    0o600
  );
  try {
    const half = Math.floor(contents.length / 2);
    fs.writeSync(fd, contents, 0, half);
    crashPoint(`mid-write:${name}`);
    fs.writeSync(fd, contents, half, contents.length - half);
    if (owner) fs.fchownSync(fd, owner.uid, owner.gid);
    if (mode !== 0o600) fs.fchmodSync(fd, mode);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  crashPoint(`after-write:${name}`);
}

function finishProducedFile(
  dir: string,
  name: string,
  mode: number,
  owner: { uid: number; gid: number } | undefined
): void {
  const fd = fs.openSync(path.join(dir, name), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    if (!fs.fstatSync(fd).isFile()) throw new Error(`${name} is not a regular file`);
    if (owner) fs.fchownSync(fd, owner.uid, owner.gid);
    fs.fchmodSync(fd, mode);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function commandTail(r: ExecResult): string {
  return r.stderrTail.trim() ? r.stderrTail : r.stdoutTail;
}

function argvText(argv: Command): string {
  return argv.join(' ').slice(0, 200);
}

function readPasswordFile(file: string | undefined): string | undefined {
  if (!file) return undefined;
  try {
    return fs.readFileSync(file, 'utf8').split(/\r?\n/)[0] || undefined;
  } catch {
    return undefined;
  }
}

/** Checks that can refuse an install before any write. */
function prepareInstall(
  opened: OpenedBundle,
  config: AgentConfig
): { target: InstallTarget; installer: InstallerDefinition; layout: TargetLayout; plan: InstallPlan } {
  const target = opened.manifest.target;
  if (!target) throw new InstallFailure('InstallTargetMissing', 'agent: the bundle names no install target');
  const installer = installerFor(target.installer);
  if (!installer) throw new InstallFailure('InstallTargetMissing', `agent: no installer ${target.installer}`);
  const unknown = opened.manifest.hooks.filter((h) => !installer.hooks.includes(h));
  if (unknown.length > 0) {
    throw new InstallFailure(
      'InstallHookNotAllowed',
      `agent: installer ${installer.type} does not implement hook(s) ${unknown.join(', ')} (knows: ${installer.hooks.join(', ') || 'none'})`
    );
  }
  const layout = targetLayout(resolveAllowedDirectory(target.directory, config.allowedRoots));
  let plan: InstallPlan;
  try {
    const password = installer.type === 'java-keystore' ? readPasswordFile(config.keystorePasswordFile) : undefined;
    plan = installer.plan(opened, {
      target,
      ...(config.commands[installer.type] ? { commands: config.commands[installer.type] } : {}),
      ...(password ? { keystorePassword: password } : {}),
      ...(config.keystorePasswordFile ? { keystorePasswordFile: config.keystorePasswordFile } : {}),
    });
  } catch (err) {
    throw new InstallFailure('InstallPlanInvalid', `agent: ${(err as Error).message}`);
  }
  const names = [
    ...plan.files.map((f) => f.name),
    ...(plan.prepare ?? []).flatMap((p) => p.produces.map((f) => f.name)),
  ];
  const bad = names.find((n) => !FILE_NAME.test(n));
  if (bad !== undefined || new Set(names).size !== names.length) {
    throw new InstallFailure('InstallPlanInvalid', `agent: installer ${installer.type} planned a bad file name`);
  }
  return { target, installer, layout, plan };
}

/**
 * Installs an opened (verified) bundle into its signed `target`, under the agent's own policy (`config`).
 *
 * Never throws for an expected failure: every refusal or failure is an `InstallOutcome` with a reason. Refusals
 * (`InstallTargetMissing`, `InstallHookNotAllowed`, `InstallTargetNotAllowed`, `InstallTargetNotSymlink`,
 * `InstallPlanInvalid`, `InstallLocked`) happen before anything but the lock file is written. `InstallWriteFailed` /
 * `InstallPrepareFailed` leave the live directory untouched. Failures after the switch roll back.
 */
export async function installOpenedBundle(
  opened: OpenedBundle,
  config: AgentConfig,
  opts: InstallOptions = {}
): Promise<InstallOutcome> {
  const { manifest } = opened;
  if (opened.idempotent) {
    return {
      status: 'installed',
      verified: false,
      reason: 'AlreadyInstalled',
      message: `agent: ${manifest.slot} version ${manifest.version} is already installed`,
      rolledBack: false,
    };
  }
  let prepared: ReturnType<typeof prepareInstall>;
  try {
    prepared = prepareInstall(opened, config);
  } catch (err) {
    if (err instanceof InstallFailure) return failed(err.reason, err.message);
    throw err;
  }
  const { layout } = prepared;
  try {
    return await withDirectoryLock(layout, opts.lockTimeoutMs ?? 30_000, () =>
      applyLocked(opened, config, opts, prepared)
    );
  } catch (err) {
    if (err instanceof InstallFailure)
      return failed(err.reason, err.message, err.stderrTail ? { stderrTail: err.stderrTail } : {});
    return failed('InstallWriteFailed', `agent: ${(err as Error).message}`);
  }
}

async function applyLocked(
  opened: OpenedBundle,
  config: AgentConfig,
  opts: InstallOptions,
  { target, layout, plan }: ReturnType<typeof prepareInstall>
): Promise<InstallOutcome> {
  const { manifest } = opened;
  const timeoutMs = config.commandTimeoutMs;

  // 1. Recover from a crashed install (under the lock), then read the live state.
  const restored = recoverInterruptedInstall(layout);
  if (restored && plan.reload) await runCommand(plan.reload, { timeoutMs });
  crashPoint('recovered');
  const previous = currentVersion(layout);

  // 2. Stage the new version.
  // `<version>-<bundleId8>`; a re-install of the live version (its success was never recorded) gets `-r2`, `-r3`….
  const baseName = `${manifest.version}-${manifest.bundleId.slice(0, 8)}`;
  let name = baseName;
  for (let n = 2; name === previous; n++) name = `${baseName}-r${n}`;
  const versionDir = path.join(layout.versions, name);
  const stage = path.join(layout.versions, `${STAGE_PREFIX}${name}-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    let owner: { uid: number; gid: number } | undefined;
    if (config.fileOwner && process.getuid?.() === 0) owner = lookupOwner(config.fileOwner);
    if (!fs.existsSync(layout.versions)) {
      fs.mkdirSync(layout.versions, { mode: 0o755 });
      fsyncDir(layout.parent);
    }
    const vst = fs.lstatSync(layout.versions);
    if (!vst.isDirectory()) throw new Error(`${layout.versions} is not a directory`);
    fs.rmSync(versionDir, { recursive: true, force: true }); // a leftover that is not live (checked above)
    fs.mkdirSync(stage, { mode: 0o700 });
    crashPoint('stage-created');
    for (const f of plan.files) writeNewFile(stage, f.name, f.contents, f.mode, owner);
    for (const step of plan.prepare ?? []) {
      const r = await runCommand(step.command, { timeoutMs, cwd: stage });
      if (!r.ok) {
        throw new InstallFailure(
          'InstallPrepareFailed',
          `agent: ${argvText(step.command)}: ${describeExecResult(r, timeoutMs)}`,
          commandTail(r)
        );
      }
      for (const p of step.produces) finishProducedFile(stage, p.name, p.mode, owner);
    }
    crashPoint('after-prepare');
    fs.chmodSync(stage, 0o755);
    fsyncDir(stage);
    crashPoint('after-fsync-stage');
    fs.renameSync(stage, versionDir);
    fsyncDir(layout.versions);
    crashPoint('after-stage-rename');
  } catch (err) {
    fs.rmSync(stage, { recursive: true, force: true });
    if (err instanceof InstallFailure) throw err;
    throw new InstallFailure('InstallWriteFailed', `agent: writing ${versionDir}: ${(err as Error).message}`);
  }

  // 3. Journal, then switch.
  const journal: Journal = { previous, next: name, pid: process.pid };
  atomicWriteFileSync(layout.journalFile, JSON.stringify(journal), 0o600);
  crashPoint('after-journal');
  try {
    switchLink(layout, name, true);
  } catch (err) {
    removeJournal(layout);
    fs.rmSync(versionDir, { recursive: true, force: true });
    throw new InstallFailure('InstallWriteFailed', `agent: switching ${layout.live}: ${(err as Error).message}`);
  }
  crashPoint('after-switch');

  const rollback = async (
    reason: InstallReason,
    message: string,
    extra: Partial<InstallOutcome> = {}
  ): Promise<InstallOutcome> => {
    crashPoint('before-rollback');
    let rolledBack = false;
    let note = '';
    try {
      if (previous !== null) switchLink(layout, previous, false);
      else {
        fs.rmSync(layout.live, { force: true });
        fsyncDir(layout.parent);
      }
      rolledBack = true;
      crashPoint('after-rollback-switch');
      fs.rmSync(versionDir, { recursive: true, force: true });
    } catch (err) {
      note = `; rollback failed: ${(err as Error).message}`;
    }
    if (rolledBack && plan.reload) {
      const r = await runCommand(plan.reload, { timeoutMs });
      crashPoint('after-rollback-reload');
      if (!r.ok) note = `; reload after rollback failed: ${describeExecResult(r, timeoutMs)}`;
    }
    if (rolledBack) removeJournal(layout);
    return failed(reason, `${message}${note}`, { ...extra, rolledBack });
  };

  // 4. Validate, reload.
  if (plan.validate) {
    const r = await runCommand(plan.validate, { timeoutMs });
    if (!r.ok) {
      return rollback(
        'InstallValidateFailed',
        `agent: ${argvText(plan.validate)}: ${describeExecResult(r, timeoutMs)}`,
        { stderrTail: commandTail(r) }
      );
    }
    crashPoint('after-validate');
  }
  if (plan.reload) {
    const r = await runCommand(plan.reload, { timeoutMs });
    if (!r.ok) {
      return rollback('InstallReloadFailed', `agent: ${argvText(plan.reload)}: ${describeExecResult(r, timeoutMs)}`, {
        stderrTail: commandTail(r),
      });
    }
    crashPoint('after-reload');
  }

  // 5. Probe until the new leaf is served (reloads are asynchronous) or the probe timeout passes.
  let verified = false;
  let servedSha256: string | undefined;
  if (target.probe) {
    const probe = opts.probe ?? probeServedLeaf;
    const interval = opts.probeIntervalMs ?? 200;
    const deadline = Date.now() + config.probeTimeoutMs;
    let last: ServedLeafResult = { ok: false, message: 'not probed' };
    for (;;) {
      const remaining = deadline - Date.now();
      last = await probe({ ...target.probe, timeoutMs: Math.max(200, Math.min(5000, remaining)) });
      if (last.ok) servedSha256 = last.sha256;
      if (last.ok && last.sha256 === manifest.leafSha256) break;
      if (Date.now() + interval >= deadline) break;
      await sleep(interval);
    }
    if (!(last.ok && last.sha256 === manifest.leafSha256)) {
      const where = `${target.probe.host}:${target.probe.port}`;
      return last.ok
        ? rollback(
            'InstallProbeMismatch',
            `agent: ${where} still serves ${last.sha256.slice(0, 16)}…, not ${manifest.leafSha256.slice(0, 16)}… after ${config.probeTimeoutMs} ms`,
            { servedSha256: last.sha256 }
          )
        : rollback('InstallProbeFailed', `agent: ${last.message}`, servedSha256 ? { servedSha256 } : {});
    }
    verified = true;
  }
  crashPoint('after-probe');

  // 6. Done: forget the journal, prune old versions.
  removeJournal(layout);
  try {
    pruneVersions(layout, name, opts.keepVersions ?? 3);
  } catch {
    // pruning is housekeeping; the next install retries it
  }
  crashPoint('after-prune');
  return {
    status: 'installed',
    verified,
    reason: 'Installed',
    message: `agent: ${manifest.slot} version ${manifest.version} installed into ${layout.live}${verified ? ' and served' : ''}`,
    ...(servedSha256 ? { servedSha256 } : {}),
    rolledBack: false,
    versionDirectory: versionDir,
  };
}
