/**
 * The fuzz harness itself (SPEC I3). The campaigns live in `fuzz-<parser>.test.ts`, one file per parser so ava runs
 * them in parallel processes; this file pins the guarantees they rely on.
 */
import test from 'ava';
import { Prng, fuzzRuns } from '../../../_helpers/fuzz';

test('I3 fuzz harness: the mutation PRNG is deterministic for a seed', (t) => {
  const draw = (seed: number): number[] => {
    const prng = new Prng(seed);
    return Array.from({ length: 8 }, () => prng.next());
  };
  t.deepEqual(draw(42), draw(42));
  t.notDeepEqual(draw(42), draw(43));
  const prng = new Prng(7);
  for (let i = 0; i < 1000; i++) {
    const n = prng.int(10);
    t.true(n >= 0 && n < 10);
  }
});

test('I3 fuzz harness: FUZZ_RUNS wins, CI=true means at least 100,000 inputs per parser, else 5,000', (t) => {
  const saved = { CI: process.env.CI, FUZZ_RUNS: process.env.FUZZ_RUNS };
  try {
    delete process.env.FUZZ_RUNS;
    process.env.CI = 'true';
    t.true(fuzzRuns() >= 100_000);
    delete process.env.CI;
    t.is(fuzzRuns(), 5_000);
    process.env.FUZZ_RUNS = '123';
    t.is(fuzzRuns(), 123);
  } finally {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
});
