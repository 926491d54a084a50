/**
 * Runs an operator-configured command (validate, reload, keystore conversion) as an argv array: `execFile`
 * semantics (no shell, no string splitting, no globbing), a hard timeout, and only a bounded tail of stderr/stdout
 * kept for the install report. Implemented over `spawn` (execFile without its whole-output buffer, which would
 * kill a chatty child at `maxBuffer`).
 *
 * Contract: never throws for a failing command. A missing binary, a non-zero exit, a signal or a timeout all
 * come back as `ok: false` with the reason in `error` / `exitCode` / `signal` / `timedOut`.
 */
import { spawn } from 'node:child_process';

/** An argv: the program and its arguments, never shell text. */
export type Command = readonly [string, ...string[]];

/** Largest stderr/stdout tail kept, in bytes. */
export const MAX_TAIL_BYTES = 4096;

export interface ExecOptions {
  /** Kill the command (SIGTERM, then SIGKILL 2 s later) when it runs longer than this. */
  timeoutMs: number;
  cwd?: string;
  /** @default process.env */
  env?: NodeJS.ProcessEnv;
  /** @default {@link MAX_TAIL_BYTES} (capped there) */
  tailBytes?: number;
}

export interface ExecResult {
  /** Exit code 0, no signal, no timeout, no spawn error. */
  ok: boolean;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  /** Spawn failure (e.g. `ENOENT` for a missing program). */
  error?: string;
  /** The last bytes of stderr / stdout (UTF-8, at most `tailBytes` each). */
  stderrTail: string;
  stdoutTail: string;
  durationMs: number;
}

/** Keeps the last `limit` bytes written to it. */
class Tail {
  private chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly limit: number) {}
  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size - (this.chunks[0]?.length ?? 0) >= this.limit && this.chunks.length > 1) {
      this.size -= this.chunks.shift()?.length ?? 0;
    }
  }
  toString(): string {
    const all = Buffer.concat(this.chunks);
    return all.subarray(Math.max(0, all.length - this.limit)).toString('utf8');
  }
}

/** One-line description of a result, for install messages: `exit code 1`, `timed out after 60000 ms`, … */
export function describeExecResult(result: ExecResult, timeoutMs?: number): string {
  if (result.error) return result.error;
  if (result.timedOut) return `timed out${timeoutMs === undefined ? '' : ` after ${timeoutMs} ms`}`;
  if (result.signal) return `killed by ${result.signal}`;
  return `exit code ${result.exitCode ?? '?'}`;
}

/**
 * Runs `argv` and resolves when it has exited. Resolves on exit even when a daemon it started keeps the
 * output pipes open (an init-style `nginx` start), after a 200 ms grace for the last output.
 */
export function runCommand(argv: Command, opts: ExecOptions): Promise<ExecResult> {
  const limit = Math.min(opts.tailBytes ?? MAX_TAIL_BYTES, MAX_TAIL_BYTES);
  const stderr = new Tail(limit);
  const stdout = new Tail(limit);
  const started = Date.now();
  return new Promise<ExecResult>((resolve) => {
    let settled = false;
    let timedOut = false;
    let spawnError: string | undefined;
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    let graceTimer: NodeJS.Timeout | undefined;

    const [file, ...args] = argv;
    const child = spawn(file, args, {
      shell: false,
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      // Own process group, so a timeout also stops what the command started (`sh -c` children, helpers).
      detached: true,
      windowsHide: true,
    });
    child.stdout.on('data', (c: Buffer) => stdout.push(c));
    child.stderr.on('data', (c: Buffer) => stderr.push(c));

    const killGroup = (signal: NodeJS.Signals): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, signal);
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup('SIGTERM');
      killTimer = setTimeout(() => killGroup('SIGKILL'), 2000);
      killTimer.unref();
    }, opts.timeoutMs);

    const finish = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      if (graceTimer) clearTimeout(graceTimer);
      child.stdout.destroy();
      child.stderr.destroy();
      const exitCode = exit?.code ?? null;
      const signal = exit?.signal ?? null;
      resolve({
        ok: !spawnError && !timedOut && exitCode === 0 && signal === null,
        exitCode,
        signal,
        timedOut,
        ...(spawnError ? { error: spawnError } : {}),
        stderrTail: stderr.toString(),
        stdoutTail: stdout.toString(),
        durationMs: Date.now() - started,
      });
    };
    child.on('error', (err: NodeJS.ErrnoException) => {
      spawnError = `cannot run ${file}: ${err.code ?? err.message}`;
      finish();
    });
    child.on('exit', (code, signal) => {
      exit = { code, signal };
      graceTimer = setTimeout(finish, 200);
    });
    child.on('close', finish);
  });
}
