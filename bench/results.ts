/**
 * Where a benchmark's JSON results go: `--out FILE`, or bench/results/<bench>-<UTC time to the second>.json (colons
 * as dashes, e.g. `monitor-sweep-2026-11-26T05-20-00Z.json`).
 */
import fs from 'node:fs';
import path from 'node:path';

export function defaultResultsFile(bench: string, at = new Date()): string {
  const stamp = at
    .toISOString()
    .replace(/:/g, '-')
    .replace(/\.\d+Z$/, 'Z');
  return path.join(__dirname, 'results', `${bench}-${stamp}.json`);
}

/** Writes `results` as indented JSON to `out` (default: `defaultResultsFile`), says where on stderr, returns the path. */
export function writeResultsJson(bench: string, results: unknown, out?: string): string {
  const file = out ?? defaultResultsFile(bench);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  process.stderr.write(`[${bench}] results: ${file}\n`);
  return file;
}
