/**
 * Child process for the kill -9 test (crash.test.ts): runs one install from a job file
 * `{ opened, config }` and prints the outcome as JSON. With CERTFLEET_AGENT_CRASH_AT set, the executor SIGKILLs
 * this process at that point instead.
 */
import fs from 'node:fs';
import type { OpenedBundle } from '@certfleet/shared';
import type { AgentConfig } from '../../../agent/src/config';
import { installOpenedBundle } from '../../../agent/src/installers/apply-plan';

/** The inverse of `serializeOpened` (test/_helpers/install-bundles.ts), kept here so the child loads no CA code. */
function deserializeOpened(text: string): OpenedBundle {
  const raw = JSON.parse(text) as {
    manifest: OpenedBundle['manifest'];
    idempotent: boolean;
    files: [string, string][];
  };
  return {
    manifest: raw.manifest,
    idempotent: raw.idempotent,
    files: new Map(raw.files.map(([p, b]) => [p, Buffer.from(b, 'base64')])),
  };
}

async function main(): Promise<void> {
  const job = JSON.parse(fs.readFileSync(process.argv[2] ?? '', 'utf8')) as { opened: string; config: AgentConfig };
  const outcome = await installOpenedBundle(deserializeOpened(job.opened), job.config);
  process.stdout.write(`${JSON.stringify(outcome)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exit(1);
});
