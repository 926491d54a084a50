import test from 'ava';
import {
  DEFAULT_LOGIN_THROTTLE,
  accountDelayMs,
  addressKey,
  pairRetryAfterMs,
  recordAccountFailure,
  recordPairFailure,
  takeToken,
  type PairState,
  type TokenBucket,
} from '../../../../controller/src/domain/login-throttle';

const MIN = 60_000;

test('U1 token bucket: a burst of `capacity`, then one token per refill interval, with the wait reported', (t) => {
  const policy = { capacity: 3, refillPerSecond: 0.5 };
  let b: TokenBucket | undefined;
  const results: boolean[] = [];
  for (let i = 0; i < 4; i++) {
    const r = takeToken(b, 1000, policy);
    b = r.bucket;
    results.push(r.ok);
    if (!r.ok) t.is(r.retryAfterMs, 2000);
  }
  t.deepEqual(results, [true, true, true, false]);
  t.false(takeToken(b, 2999, policy).ok, 'not refilled after 1.999 s');
  const refilled = takeToken(b, 3000, policy);
  t.true(refilled.ok, 'one token after 2 s');
  t.false(takeToken(refilled.bucket, 3000, policy).ok);
  // Long idle: capped at capacity.
  let idle = takeToken(refilled.bucket, 1_000_000, policy).bucket;
  let n = 1;
  for (; n < 10 && takeToken(idle, 1_000_000, policy).ok; n++) idle = takeToken(idle, 1_000_000, policy).bucket;
  t.is(n, 3);
});

test('U1 (account, address) pair: blocked after `threshold` failures for a doubling window, capped', (t) => {
  const policy = { threshold: 3, windowMs: 15 * MIN, baseBlockMs: MIN, maxBlockMs: 5 * MIN };
  let s: PairState | undefined;
  let now = 0;
  const fail = () => {
    const r = recordPairFailure(s, now, policy);
    s = r.state;
    return r.blockedForMs;
  };
  t.is(fail(), 0);
  t.is(fail(), 0);
  t.is(pairRetryAfterMs(s, now), 0);
  t.is(fail(), MIN, 'third failure blocks for the base window');
  t.is(pairRetryAfterMs(s, now + 1000), MIN - 1000);
  now += MIN;
  t.is(pairRetryAfterMs(s, now), 0, 'free again after the block');
  t.is(fail(), 2 * MIN, 'the next failure after a block blocks again, twice as long');
  now += 2 * MIN;
  t.is(fail(), 4 * MIN);
  now += 4 * MIN;
  t.is(fail(), 5 * MIN, 'capped');
  // A quiet window after the block forgets the history: back to needing `threshold` failures.
  now += 5 * MIN + 15 * MIN;
  t.is(fail(), 0);
  t.is(fail(), 0);
  t.is(fail(), MIN);
  t.is(s!.failures.length, policy.threshold - 1);
});

test('U1 failures spread beyond the window do not block the pair', (t) => {
  const policy = DEFAULT_LOGIN_THROTTLE.perPair;
  let s: PairState | undefined;
  for (let i = 0; i < 20; i++) {
    const r = recordPairFailure(s, i * 4 * MIN, policy); // one failure every 4 minutes: at most 4 per 15 min
    s = r.state;
    t.is(r.blockedForMs, 0, `failure ${i}`);
  }
});

test('U1 account-wide slow-down: delays grow past `slowAfter`, capped, and never refuse', (t) => {
  const policy = { windowMs: 15 * MIN, slowAfter: 2, stepMs: 250, maxDelayMs: 1000 };
  let f: number[] | undefined;
  const delays: number[] = [];
  for (let i = 0; i < 8; i++) {
    f = recordAccountFailure(f, 1000 + i, policy);
    delays.push(accountDelayMs(f, 1000 + i, policy));
  }
  t.deepEqual(delays, [0, 0, 250, 500, 750, 1000, 1000, 1000]);
  t.true(f!.length <= policy.slowAfter + 4 + 1, 'bounded memory');
  t.is(accountDelayMs(f, 1000 + 15 * MIN + 8, policy), 0, 'forgotten after the window');
});

test('U1 addresses are counted per IPv4 address and per IPv6 /64', (t) => {
  t.is(addressKey('127.0.0.3'), '127.0.0.3');
  t.is(addressKey('::ffff:127.0.0.3'), '127.0.0.3');
  t.is(addressKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
  t.is(addressKey('2001:db8:1:2:bbbb::9'), '2001:db8:1:2::/64');
  t.not(addressKey('2001:db8:1:3::1'), addressKey('2001:db8:1:2::1'));
});
