import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { defaultResultsFile, writeResultsJson } from '../../../bench/results';

test('bench results: the default file is bench/results/<bench>-<UTC time to the second>.json', (t) => {
  const file = defaultResultsFile('monitor-sweep', new Date('2026-11-26T05:20:07.123Z'));
  t.is(path.basename(file), 'monitor-sweep-2026-11-26T05-20-07Z.json');
  t.is(path.basename(path.dirname(file)), 'results');
  t.is(path.dirname(path.dirname(file)), path.resolve(__dirname, '..', '..', '..', 'bench'));
});

test('bench results: --out gets indented JSON with a final newline (directories made)', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certfleet-bench-results-'));
  try {
    const out = path.join(dir, 'a', 'b', 'r.json');
    const results = { bench: 'console-lists', rows: [{ case: 'x', p50: 1.5 }] };
    t.is(writeResultsJson('console-lists', results, out), out);
    t.is(fs.readFileSync(out, 'utf8'), `${JSON.stringify(results, null, 2)}\n`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
