import { execFileSync } from 'node:child_process';
import anyTest, { type TestFn } from 'ava';

/** True when `cmd` is on PATH. */
export function hasCommand(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v "$1"`, 'sh', cmd], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** True when running under CI (where a missing system package must fail, not skip). */
export const isCI = process.env.CI === 'true' || process.env.CI === '1';

/**
 * Returns ava's `test` when every command is present; on a developer laptop without them, `test.skip`
 * (ava prints the skip). Under CI=true it always returns `test`, and the test fails on the first missing tool
 * via {@link assertCommands}.
 */
export function testNeeding<C = unknown>(commands: string[]): TestFn<C> {
  const test = anyTest as TestFn<C>;
  const missing = commands.filter((c) => !hasCommand(c));
  if (missing.length === 0 || isCI) return test;
  process.stderr.write(`skipping tests that need: ${missing.join(', ')} (not installed)\n`);
  return test.skip as unknown as TestFn<C>;
}

/** Throws naming the missing commands (used at the start of tests from {@link testNeeding} under CI). */
export function assertCommands(commands: string[]): void {
  const missing = commands.filter((c) => !hasCommand(c));
  if (missing.length)
    throw new Error(`required system commands missing: ${missing.join(', ')} (install them in .ci/run)`);
}
