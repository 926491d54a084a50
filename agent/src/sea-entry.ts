/**
 * Entry point of the single executable (SPEC G5): installers/src/build-agent.ts bundles this file and everything
 * it imports into one CommonJS script, which Node runs as the SEA's main script. Runs the CLI with the process
 * arguments and turns an escaped error into exit code 1 (the CLI itself already maps its own errors).
 */
import { main } from './main';

main(process.argv).catch((err: unknown) => {
  process.stderr.write(`certfleet-agent: CF_INTERNAL: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
