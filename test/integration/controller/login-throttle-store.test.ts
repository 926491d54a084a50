import anyTest, { type TestFn } from 'ava';
import {
  DEFAULT_LOGIN_THROTTLE,
  accountDelayMs,
  delayForFailures,
  pairRetryAfterMs,
  recordAccountFailure,
  recordPairFailure,
  takeToken,
  type LoginThrottlePolicy,
  type PairState,
  type TokenBucket,
} from '../../../controller/src/domain/login-throttle';
import { LoginThrottleStore, keyHash } from '../../../controller/src/services/login-throttle-store';
import type { Database } from '../../../controller/src/storage/database';
import { dropDatabase, freshDatabase } from '../../_helpers/db';

/**
 * SPEC U1: the PostgreSQL login-throttle counters (services/login-throttle-store.ts, one atomic upsert per change)
 * compute exactly what the pure rules of domain/login-throttle.ts compute. Sequences with chosen times run through
 * both and every answer is compared; concurrent upserts on one row lose no update.
 */
const test = anyTest as TestFn<{ db: Database }>;

const MIN = 60_000;
const T0 = 1_800_000_000_000;

test.before(async (t) => {
  t.context.db = await freshDatabase('cft_throttle');
});
test.after.always(async (t) => {
  const url = t.context.db?.url;
  await t.context.db?.close();
  if (url) await dropDatabase(url);
});

/** Deterministic pseudo-random gaps (no Math.random: a failure must be reproducible). */
function* gaps(seed: number, maxMs: number, count: number): Generator<number> {
  let x = seed;
  for (let i = 0; i < count; i++) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    yield x % maxMs;
  }
}

test.serial('U1 token bucket in SQL = takeToken: burst, refusal with retry-after, refill', async (t) => {
  const em = t.context.db.em();
  const policy: LoginThrottlePolicy = { ...DEFAULT_LOGIN_THROTTLE, perAddress: { capacity: 5, refillPerSecond: 0.5 } };
  const store = new LoginThrottleStore(policy);
  let bucket: TokenBucket | undefined;
  let now = T0;
  const seen: boolean[] = [];
  for (const gap of gaps(7, 1500, 60)) {
    now += gap;
    const pure = takeToken(bucket, now, policy.perAddress);
    bucket = pure.bucket;
    const sql = await store.take(em, 'addr-a', now);
    t.deepEqual(sql, { ok: pure.ok, retryAfterMs: pure.retryAfterMs }, `at +${now - T0} ms`);
    seen.push(sql.ok);
  }
  t.true(seen.includes(false), 'the sequence reached refusals');
  t.true(seen.lastIndexOf(true) > seen.indexOf(false), 'and refills after them');
  // Another key has its own bucket.
  t.true((await store.take(em, 'addr-b', now)).ok);
});

test.serial(
  'U1 (account, address) failures in SQL = recordPairFailure: growing blocks, quiet reset, retry-after',
  async (t) => {
    const em = t.context.db.em();
    const policy = DEFAULT_LOGIN_THROTTLE;
    const store = new LoginThrottleStore(policy);
    let state: PairState | undefined;
    let now = T0;
    const blocks: number[] = [];
    // Bursts of failures with pauses: short ones (inside blocks), and two longer than window + max block (reset).
    const pauses = [0, 5_000, 30_000, 2 * MIN, 4 * MIN, 40 * MIN, 10_000, 3 * MIN, 50 * MIN, 1_000];
    let step = 0;
    for (const pause of pauses) {
      now += pause;
      for (const gap of gaps(step + 3, 20_000, 7)) {
        now += gap;
        step++;
        t.is(
          (await store.read(em, 'pair-1', 'acct-1', now)).pairBlockedMs,
          pairRetryAfterMs(state, now),
          `retry-after at step ${step}`
        );
        const pure = recordPairFailure(state, now, policy.perPair);
        state = pure.state;
        const sql = await store.pairFailure(em, 'pair-1', now);
        t.is(sql, pure.blockedForMs, `block length at step ${step}`);
        if (sql > 0) blocks.push(sql);
      }
    }
    t.true(blocks.includes(MIN) && blocks.includes(2 * MIN) && blocks.includes(4 * MIN), `blocks ${blocks.join(',')}`);
    t.true(blocks.lastIndexOf(MIN) > blocks.indexOf(4 * MIN), 'a quiet window starts over at the base block');
    const row = await em
      .getConnection()
      .execute<{ failures: string[]; blocks: number }[]>(
        `select failures::text[] as failures, blocks from login_throttle where scope = 'pair' and key_hash = ?`,
        [keyHash('pair-1')]
      );
    t.deepEqual(row[0]?.failures.map(Number), state?.failures, 'the stored failure times match');
    t.is(row[0]?.blocks, state?.blocks);
    await store.clearPair(em, 'pair-1');
    t.is((await store.read(em, 'pair-1', 'acct-1', now)).pairBlockedMs, 0, 'a success clears the pair');
  }
);

test.serial('U1 account failures in SQL = recordAccountFailure/accountDelayMs: window and length cap', async (t) => {
  const em = t.context.db.em();
  const policy = DEFAULT_LOGIN_THROTTLE;
  const store = new LoginThrottleStore(policy);
  let failures: number[] | undefined;
  let now = T0;
  let maxDelay = 0;
  for (const gap of gaps(11, 40_000, 80)) {
    now += gap;
    failures = recordAccountFailure(failures, now, policy.perAccount);
    await store.accountFailure(em, 'acct-2', now);
    const later = now + 1;
    const expected = accountDelayMs(failures, later, policy.perAccount);
    const read = await store.read(em, 'no-pair', 'acct-2', later);
    t.is(delayForFailures(read.accountFailures, policy.perAccount), expected, `delay at +${now - T0} ms`);
    maxDelay = Math.max(maxDelay, expected);
  }
  t.is(maxDelay, policy.perAccount.maxDelayMs, 'the sequence reached the maximum delay');
  const row = await em
    .getConnection()
    .execute<{ n: number }[]>(
      `select cardinality(failures) as n from login_throttle where scope = 'account' and key_hash = ?`,
      [keyHash('acct-2')]
    );
  t.is(row[0]?.n, failures?.length, 'the stored list is capped like the pure one');
  // Much later everything has left the window.
  t.is((await store.read(em, 'no-pair', 'acct-2', now + policy.perAccount.windowMs)).accountFailures, 0);
});

test.serial('U1 concurrent upserts on one row lose no failure and no token; expired rows are deleted', async (t) => {
  const { db } = t.context;
  const policy: LoginThrottlePolicy = {
    ...DEFAULT_LOGIN_THROTTLE,
    perPair: { ...DEFAULT_LOGIN_THROTTLE.perPair, threshold: 1000 },
    perAddress: { capacity: 25, refillPerSecond: 0.001 },
  };
  const store = new LoginThrottleStore(policy);
  const now = T0 + 10 * MIN;
  // 40 parallel statements on separate connections (separate EntityManagers): the first creates the row.
  await Promise.all(Array.from({ length: 40 }, () => store.pairFailure(db.em(), 'pair-c', now)));
  const row = await db
    .em()
    .getConnection()
    .execute<{ n: number }[]>(
      `select cardinality(failures) as n from login_throttle where scope = 'pair' and key_hash = ?`,
      [keyHash('pair-c')]
    );
  t.is(row[0]?.n, 40);
  const takes = await Promise.all(Array.from({ length: 40 }, () => store.take(db.em(), 'addr-c', now)));
  t.is(takes.filter((r) => r.ok).length, 25, 'exactly the capacity is granted');

  const deleted = await store.expire(db.em(), now + 3 * 3600_000);
  t.true(deleted >= 2, `${deleted} expired rows deleted`);
  const left = await db
    .em()
    .getConnection()
    .execute<{ n: number }[]>(`select count(*)::int as n from login_throttle where expires_at_ms < ?`, [
      now + 3 * 3600_000,
    ]);
  t.is(left[0]?.n, 0);
});
