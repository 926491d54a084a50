import test from 'ava';
import { BENCH_FLAGS, UsageError, parseFlags } from '../../../bench/args';

test('bench flags: integers in range (scaled), words, strings and switches', (t) => {
  t.deepEqual(parseFlags(['--agents', '500', '--phase-timeout', '90', '--out', 'r.json'], BENCH_FLAGS.fleet), {
    agents: 500,
    phaseTimeoutMs: 90_000,
    out: 'r.json',
  });
  t.deepEqual(parseFlags(['--keep', '--only', 'peers', '--runs', '3'], BENCH_FLAGS['monitor-sweep']), {
    keep: true,
    only: 'peers',
    runs: 3,
  });
  t.deepEqual(parseFlags([], BENCH_FLAGS.discovery), {});
});

test('bench flags: a bad command line is a UsageError naming the flag', (t) => {
  const bad: Array<[string[], RegExp]> = [
    [['--agents', '0'], /--agents must be an integer in 1\.\.20000/],
    [['--agents', '1.5'], /--agents must be an integer/],
    [['--agents'], /--agents must be an integer/],
    [['--out'], /--out needs a file/],
    [['--nope'], /unknown option --nope/],
  ];
  for (const [argv, message] of bad) {
    t.throws(() => parseFlags(argv, BENCH_FLAGS.fleet), { instanceOf: UsageError, message }, argv.join(' '));
  }
  t.throws(() => parseFlags(['--part', 'all'], BENCH_FLAGS.discovery), { message: '--part: grid | netns | both' });
});
