import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

const protoDir = path.resolve(__dirname, '../../../proto');
const committedGenDir = path.join(protoDir, 'src/gen');

/** Relative paths of every file below `dir`, sorted, with '/' separators. */
async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join('/'))
    .sort();
}

test('G2 committed proto/src/gen is byte-identical to a fresh `npm run gen`', async (t) => {
  const outDir = await mkdtemp(path.join(os.tmpdir(), 'certfleet-proto-gen-'));
  t.teardown(() => rm(outDir, { recursive: true, force: true }));

  // The very script a developer runs; `--output` only moves buf.gen.yaml's `out: src/gen` below outDir.
  await execFileAsync('npm', ['run', 'gen', '--silent', '--', '--output', outDir], { cwd: protoDir });
  const freshGenDir = path.join(outDir, 'src/gen');

  const committed = await listFiles(committedGenDir);
  const fresh = await listFiles(freshGenDir);
  t.true(fresh.length > 0, 'the generator produced no files');
  t.deepEqual(committed, fresh, 'the set of generated files differs: run `npm run gen` and commit proto/src/gen');

  const stale: string[] = [];
  for (const file of fresh.filter((f) => committed.includes(f))) {
    const [a, b] = await Promise.all([
      readFile(path.join(committedGenDir, file)),
      readFile(path.join(freshGenDir, file)),
    ]);
    if (!a.equals(b)) stale.push(file);
  }
  t.deepEqual(stale, [], 'generated files are stale or hand-edited: run `npm run gen` and commit proto/src/gen');
});
