import anyTest, { type TestFn } from 'ava';
import { ADMIN_PASSWORD, startTestController, type TestController } from '../../_helpers/controller';
import { call, codeOf, cookieLogin, createUser, type CallResult } from '../../_helpers/https-client';

/**
 * SPEC U1 with two controller replicas (two processes' worth of controllers: separate HTTPS listeners and service
 * contexts) on ONE PostgreSQL database: the login-throttle counters are shared, so failures spread over both
 * replicas count against one budget, and the "no lock-out an attacker can trigger" design still holds: the right
 * password from another address logs in on either replica.
 */
const test = anyTest as TestFn<{ a: TestController; b: TestController; admin: string }>;

const USER_PASSWORD = 'user password 1234';

test.before(async (t) => {
  t.context.a = await startTestController();
  t.context.admin = await t.context.a.adminToken();
  t.context.b = await startTestController({ replicaOf: t.context.a });
});
test.after.always(async (t) => {
  await t.context.b?.close();
  await t.context.a?.close();
});

const login = (tc: TestController, localAddress: string, username: string, password: string): Promise<CallResult> =>
  call(tc, 'POST', '/api/v1/auth/login', { localAddress, body: { username, password } });

test.serial('U1 replicas: the two controllers are separate listeners on one database', async (t) => {
  const { a, b, admin } = t.context;
  t.not(a.controller.url, b.controller.url);
  t.not(a.controller.ctx, b.controller.ctx);
  t.is(a.databaseUrl, b.databaseUrl);
  // A session made on one replica is valid on the other (same database).
  t.is((await call(b, 'GET', '/api/v1/auth/me', { token: admin })).status, 200);
});

test.serial(
  'U1 replicas: failures alternated over two controllers block the (account, address) pair after 5 in total; the real user still logs in',
  async (t) => {
    const { a, b, admin } = t.context;
    await createUser(a, admin, 'replica-victim', 'user', USER_PASSWORD, { localAddress: '127.0.2.9' });
    const attacker = '127.0.2.1';
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await login(i % 2 === 0 ? a : b, attacker, 'replica-victim', `guess ${i}`);
      statuses.push(r.status);
    }
    // With counters per process each replica would have seen only 3 and 2 failures: no block yet.
    t.deepEqual(statuses, [401, 401, 401, 401, 401]);
    for (const [name, tc] of [
      ['b', b],
      ['a', a],
    ] as const) {
      const blocked = await login(tc, attacker, 'replica-victim', 'guess 5');
      t.is(blocked.status, 429, `replica ${name}`);
      t.is(codeOf(blocked), 'CF_RATE_LIMITED');
      const retryAfter = Number(blocked.headers['retry-after']);
      t.true(retryAfter >= 1 && retryAfter <= 60, `retry-after ${String(blocked.headers['retry-after'])}`);
      // Case does not open a second budget.
      t.is((await login(tc, attacker, 'REPLICA-VICTIM', 'guess 6')).status, 429);
    }
    // The right password from the blocked address is not tried either (existing design: the pair is throttled).
    t.is((await login(b, attacker, 'replica-victim', USER_PASSWORD)).status, 429);
    // No lock-out: the real user, from a fresh client address, logs in on both replicas (bearer and cookie).
    const realB = await login(b, '127.0.2.2', 'replica-victim', USER_PASSWORD);
    t.is(realB.status, 200);
    t.truthy((realB.json as { token: string }).token);
    t.is((await login(a, '127.0.2.2', 'replica-victim', USER_PASSWORD)).status, 200);
    await cookieLogin(a, 'replica-victim', USER_PASSWORD, { localAddress: '127.0.2.3' });
    // The attacker's address is not blocked for other accounts.
    t.is((await login(b, attacker, 'admin', ADMIN_PASSWORD)).status, 200);

    // The block was audited once, by the replica whose failure started it.
    const audit = await call(a, 'GET', '/api/v1/audit?action=auth.login_throttled', { token: admin });
    t.is(audit.status, 200);
    const items = (audit.json as { items?: Array<{ targetId: string }> }).items ?? [];
    t.is(items.filter((e) => e.targetId === 'replica-victim').length, 1, JSON.stringify(audit.json).slice(0, 300));
  }
);

test.serial('U1 replicas: a success on one replica clears the pair for both', async (t) => {
  const { a, b, admin } = t.context;
  await createUser(a, admin, 'replica-carol', 'user', USER_PASSWORD, { localAddress: '127.0.2.19' });
  const from = '127.0.2.10';
  for (let i = 0; i < 4; i++) t.is((await login(i % 2 ? a : b, from, 'replica-carol', `typo ${i}`)).status, 401);
  t.is((await login(a, from, 'replica-carol', USER_PASSWORD)).status, 200);
  // Four more failures after the success: still below the threshold, because the success reset the count.
  for (let i = 0; i < 4; i++) t.is((await login(i % 2 ? b : a, from, 'replica-carol', `typo ${i}`)).status, 401);
  t.is((await login(b, from, 'replica-carol', USER_PASSWORD)).status, 200);
});

test.serial('U1 replicas: the per-address burst budget (30) is shared by both controllers', async (t) => {
  const { a, b } = t.context;
  const sprayer = '127.0.2.20';
  // 48 guesses at once, half to each replica, each for another account. Per-process budgets would answer all 48
  // (24 < 30 on each); the shared bucket answers at most 30 + one per 2 s elapsed.
  const t0 = performance.now();
  const results = await Promise.all(
    Array.from({ length: 48 }, (_, i) => login(i % 2 ? a : b, sprayer, `nobody-${i}`, 'Winter2026!'))
  );
  const elapsedS = (performance.now() - t0) / 1000;
  const answered = results.filter((r) => r.status === 401).length;
  const refused = results.filter((r) => r.status === 429);
  t.is(answered + refused.length, 48, JSON.stringify(results.map((r) => r.status)));
  t.true(answered >= 30, `${answered} answered`);
  t.true(answered <= 30 + Math.ceil(elapsedS / 2), `${answered} answered in ${elapsedS.toFixed(1)} s`);
  for (const r of refused) {
    t.is(codeOf(r), 'CF_RATE_LIMITED');
    t.true(Number(r.headers['retry-after']) >= 1);
  }
  // Both replicas refused some: each saw the other's attempts.
  const refusedBy = new Set(results.flatMap((r, i) => (r.status === 429 ? [i % 2] : [])));
  t.deepEqual([...refusedBy].sort(), [0, 1]);
});
