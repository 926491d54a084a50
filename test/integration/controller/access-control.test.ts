import anyTest, { type TestFn } from 'ava';
import { ADMIN_PASSWORD, startTestController, type TestController } from '../../_helpers/controller';
import { COOKIE_NAME, call, codeOf, cookieLogin, createUser, sessionFromSetCookie } from '../../_helpers/https-client';

/**
 * SPEC U1, U5 against a real controller (HTTPS on loopback, PostgreSQL): cookie sessions next to bearer tokens,
 * rotation, CSRF, login throttling without lock-out, user management, security headers, audit. Each test uses its
 * own accounts and loopback source address, so the per-address login budget of one test never affects another.
 */
const test = anyTest as TestFn<{ tc: TestController; admin: string }>;

const USER_PASSWORD = 'user password 1234';

test.before(async (t) => {
  t.context.tc = await startTestController();
  t.context.admin = await t.context.tc.adminToken();
});
test.after.always(async (t) => {
  await t.context.tc?.close();
});

test.serial(
  'U1 cookie login sets a __Host- Secure HttpOnly SameSite=Strict cookie and returns the CSRF token, no bearer token',
  async (t) => {
    const { tc, admin } = t.context;
    const la = { localAddress: '127.0.1.1' };
    await createUser(tc, admin, 'cookie-alice', 'user', USER_PASSWORD, la);
    const { session, csrfToken, result } = await cookieLogin(tc, 'cookie-alice', USER_PASSWORD, la);
    t.is(result.setCookie.length, 1);
    t.is(result.setCookie[0], `${COOKIE_NAME}=${session}; Path=/; Secure; HttpOnly; SameSite=Strict`);
    const body = result.json as Record<string, unknown>;
    t.false('token' in body, 'no token in the body of a cookie login');
    t.deepEqual(body.user, { username: 'cookie-alice', role: 'user', mustChangePassword: false });
    t.regex(csrfToken, /^[A-Za-z0-9_-]{40,}$/);

    const me = await call(tc, 'GET', '/api/v1/auth/me', { ...la, cookie: session });
    t.is(me.status, 200);
    t.deepEqual(me.json, { username: 'cookie-alice', role: 'user', mustChangePassword: false, csrfToken });

    // A bearer login still returns the token, and /me has no CSRF token for bearer sessions.
    const bearer = await call(tc, 'POST', '/api/v1/auth/login', {
      ...la,
      body: { username: 'cookie-alice', password: USER_PASSWORD },
    });
    t.is(bearer.status, 200);
    t.deepEqual(bearer.setCookie, []);
    const token = (bearer.json as { token: string }).token;
    t.truthy(token);
    const meBearer = await call(tc, 'GET', '/api/v1/auth/me', { ...la, token });
    t.deepEqual(meBearer.json, { username: 'cookie-alice', role: 'user', mustChangePassword: false });
    // Bearer and cookie sessions are independent: the cookie session above is still alive.
    t.is((await call(tc, 'GET', '/api/v1/definitions', { ...la, cookie: session })).status, 200);
  }
);

test.serial('U1 the session id changes at every login and the old cookie stops working (rotation)', async (t) => {
  const { tc, admin } = t.context;
  const la = { localAddress: '127.0.1.2' };
  await createUser(tc, admin, 'cookie-bob', 'user', USER_PASSWORD, la);
  const first = await cookieLogin(tc, 'cookie-bob', USER_PASSWORD, la);
  const second = await cookieLogin(tc, 'cookie-bob', USER_PASSWORD, { ...la, cookie: first.session });
  t.not(second.session, first.session, 'a new session token at login');
  t.not(second.csrfToken, first.csrfToken, 'a new CSRF token with the new session');
  const old = await call(tc, 'GET', '/api/v1/auth/me', { ...la, cookie: first.session });
  t.is(old.status, 401, 'the session the login request carried was ended');
  t.is(codeOf(old), 'CF_UNAUTHORIZED');
  t.is((await call(tc, 'GET', '/api/v1/auth/me', { ...la, cookie: second.session })).status, 200);

  // Logout needs the CSRF token, then ends the session and clears the cookie.
  const noCsrf = await call(tc, 'POST', '/api/v1/auth/logout', { ...la, cookie: second.session });
  t.is(noCsrf.status, 403);
  t.is(codeOf(noCsrf), 'CF_CSRF');
  t.is((await call(tc, 'GET', '/api/v1/auth/me', { ...la, cookie: second.session })).status, 200);
  const out = await call(tc, 'POST', '/api/v1/auth/logout', {
    ...la,
    cookie: second.session,
    csrfToken: second.csrfToken,
  });
  t.is(out.status, 204);
  t.deepEqual(out.setCookie, [`${COOKIE_NAME}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0`]);
  t.is((await call(tc, 'GET', '/api/v1/auth/me', { ...la, cookie: second.session })).status, 401);
});

test.serial(
  'U1 CSRF: cookie state changes without the token, with a wrong token or cross-origin get 403 CF_CSRF; bearer is exempt',
  async (t) => {
    const { tc, admin } = t.context;
    const la = { localAddress: '127.0.1.3' };
    const bearer = await createUser(tc, admin, 'cookie-carol', 'user', USER_PASSWORD, la);
    const { session, csrfToken } = await cookieLogin(tc, 'cookie-carol', USER_PASSWORD, la);
    const own = `https://127.0.0.1:${tc.controller.port}`;
    const post = (o: Parameters<typeof call>[3]) => call(tc, 'POST', '/api/v1/definitions', { ...la, body: {}, ...o });

    for (const [what, o] of [
      ['no token', { cookie: session }],
      ['wrong token', { cookie: session, csrfToken: csrfToken.slice(0, -2) + 'AA' }],
      ['a made-up token', { cookie: session, csrfToken: 'x'.repeat(43) }],
      ['cross-origin Origin', { cookie: session, csrfToken, headers: { origin: 'https://evil.example' } }],
      ['opaque Origin', { cookie: session, csrfToken, headers: { origin: 'null' } }],
      ['Sec-Fetch-Site cross-site', { cookie: session, csrfToken, headers: { 'sec-fetch-site': 'cross-site' } }],
    ] as const) {
      const r = await post(o);
      t.is(r.status, 403, what);
      t.is(codeOf(r), 'CF_CSRF', what);
    }
    for (const method of ['PUT', 'PATCH', 'DELETE']) {
      const r = await call(tc, method, '/api/v1/definitions/00000000-0000-4000-8000-000000000000', {
        ...la,
        cookie: session,
        body: method === 'DELETE' ? undefined : {},
      });
      t.is(codeOf(r), 'CF_CSRF', `${method} without token`);
    }
    // With the token and the controller's own Origin the request reaches validation (400), not the CSRF guard.
    const ok = await post({ cookie: session, csrfToken, headers: { origin: own, 'sec-fetch-site': 'same-origin' } });
    t.is(ok.status, 400);
    t.is(codeOf(ok), 'CF_VALIDATION');
    // Reads need no token.
    t.is((await call(tc, 'GET', '/api/v1/definitions', { ...la, cookie: session })).status, 200);
    // Bearer requests carry no ambient credential: no CSRF rules, even with a foreign Origin.
    const viaBearer = await post({ token: bearer, headers: { origin: 'https://evil.example' } });
    t.is(codeOf(viaBearer), 'CF_VALIDATION');

    // Cross-site login attempts are refused before the password is looked at.
    for (const headers of [{ origin: 'https://evil.example' }, { 'sec-fetch-site': 'cross-site' }] as Array<
      Record<string, string>
    >) {
      const r = await call(tc, 'POST', '/api/v1/auth/login', {
        ...la,
        headers,
        body: { username: 'cookie-carol', password: USER_PASSWORD, cookie: true },
      });
      t.is(r.status, 403, JSON.stringify(headers));
      t.is(codeOf(r), 'CF_CSRF');
      t.deepEqual(r.setCookie, []);
    }
    // A same-origin browser login works.
    const same = await call(tc, 'POST', '/api/v1/auth/login', {
      ...la,
      headers: { origin: own, 'sec-fetch-site': 'same-origin' },
      body: { username: 'cookie-carol', password: USER_PASSWORD, cookie: true },
    });
    t.is(same.status, 200);
    t.truthy(sessionFromSetCookie(same));
  }
);

test.serial('U1 a password change ends every session of the user and clears the cookie', async (t) => {
  const { tc, admin } = t.context;
  const la = { localAddress: '127.0.1.4' };
  const bearer = await createUser(tc, admin, 'cookie-dave', 'user', USER_PASSWORD, la);
  const { session, csrfToken } = await cookieLogin(tc, 'cookie-dave', USER_PASSWORD, la);
  const r = await call(tc, 'POST', '/api/v1/auth/password', {
    ...la,
    cookie: session,
    csrfToken,
    body: { currentPassword: USER_PASSWORD, newPassword: 'another password 5678' },
  });
  t.is(r.status, 204);
  t.true(r.setCookie.some((c) => c.startsWith(`${COOKIE_NAME}=;`) && c.includes('Max-Age=0')));
  t.is((await call(tc, 'GET', '/api/v1/auth/me', { ...la, cookie: session })).status, 401);
  t.is((await call(tc, 'GET', '/api/v1/auth/me', { ...la, token: bearer })).status, 401, 'bearer sessions end too');
});

test.serial(
  'U1 login throttle: the attacking address gets 429 with retry-after, the real user still logs in from another address',
  async (t) => {
    const { tc, admin } = t.context;
    await createUser(tc, admin, 'victim', 'user', USER_PASSWORD, { localAddress: '127.0.1.5' });
    const attacker = { localAddress: '127.0.0.3' };
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await call(tc, 'POST', '/api/v1/auth/login', {
        ...attacker,
        body: { username: 'victim', password: `guess ${i}` },
      });
      statuses.push(r.status);
    }
    t.deepEqual(statuses, [401, 401, 401, 401, 401], 'five failures are answered normally');
    const blocked = await call(tc, 'POST', '/api/v1/auth/login', {
      ...attacker,
      body: { username: 'victim', password: 'guess 5' },
    });
    t.is(blocked.status, 429);
    t.is(codeOf(blocked), 'CF_RATE_LIMITED');
    const retryAfter = Number(blocked.headers['retry-after']);
    t.true(retryAfter >= 1 && retryAfter <= 60, `retry-after ${String(blocked.headers['retry-after'])}`);
    // Even the right password is not tried from the blocked address (the pair is throttled, not the password).
    const rightFromAttacker = await call(tc, 'POST', '/api/v1/auth/login', {
      ...attacker,
      body: { username: 'victim', password: USER_PASSWORD },
    });
    t.is(rightFromAttacker.status, 429);
    // No lock-out: the real user logs in from their own address, by bearer and by cookie.
    const real = await call(tc, 'POST', '/api/v1/auth/login', {
      localAddress: '127.0.0.1',
      body: { username: 'victim', password: USER_PASSWORD },
    });
    t.is(real.status, 200);
    t.truthy((real.json as { token: string }).token);
    await cookieLogin(tc, 'victim', USER_PASSWORD, { localAddress: '127.0.1.5' });
    // The attacker's address is not blocked for other accounts (per (account, address), no address-wide lock-out).
    const other = await call(tc, 'POST', '/api/v1/auth/login', {
      ...attacker,
      body: { username: 'admin', password: ADMIN_PASSWORD },
    });
    t.is(other.status, 200);
  }
);

test.serial(
  'U1 login throttle: the per-address budget answers 429 for password spraying across accounts',
  async (t) => {
    const { tc } = t.context;
    const sprayer = { localAddress: '127.0.0.4' };
    // 45 guesses at once, each for another account (no per-account rule applies): the burst budget is 30, and the
    // bucket refills one token per 2 s while they run, so at most 30 + elapsed/2 s are answered normally.
    const t0 = performance.now();
    const results = await Promise.all(
      Array.from({ length: 45 }, (_, i) =>
        call(tc, 'POST', '/api/v1/auth/login', {
          ...sprayer,
          body: { username: `nobody-${i}`, password: 'Winter2026!' },
        })
      )
    );
    const elapsedS = (performance.now() - t0) / 1000;
    const refused = results.filter((r) => r.status === 429);
    const answered = results.filter((r) => r.status === 401);
    t.is(refused.length + answered.length, results.length, JSON.stringify(results.map((r) => r.status)));
    t.true(answered.length >= 30, `${answered.length} answered`);
    t.true(answered.length <= 30 + Math.ceil(elapsedS / 2), `${answered.length} answered in ${elapsedS.toFixed(1)} s`);
    t.true(refused.length > 0);
    for (const r of refused) {
      t.is(codeOf(r), 'CF_RATE_LIMITED');
      t.true(Number(r.headers['retry-after']) >= 1);
    }
  }
);

test.serial(
  'U1 users: only an admin manages users; generated passwords once; role change; reset; last admin protected',
  async (t) => {
    const { tc, admin } = t.context;
    const la = { localAddress: '127.0.1.6' };
    const created = await call(tc, 'POST', '/api/v1/users', {
      ...la,
      token: admin,
      body: { username: 'erin', role: 'user' },
    });
    t.is(created.status, 201);
    const c = created.json as { user: Record<string, unknown>; password: string };
    t.is(c.user.username, 'erin');
    t.is(c.user.role, 'user');
    t.is(c.user.mustChangePassword, true);
    t.true(c.password.length >= 16);
    t.false(JSON.stringify(created.json).includes('scrypt'), 'no password hash in the answer');
    const dup = await call(tc, 'POST', '/api/v1/users', {
      ...la,
      token: admin,
      body: { username: 'erin', role: 'user' },
    });
    t.is(codeOf(dup), 'CF_CONFLICT');
    const dupCase = await call(tc, 'POST', '/api/v1/users', {
      ...la,
      token: admin,
      body: { username: 'Erin', role: 'user' },
    });
    t.is(codeOf(dupCase), 'CF_CONFLICT', 'names differing only in case are refused');
    const bad = await call(tc, 'POST', '/api/v1/users', {
      ...la,
      token: admin,
      body: { username: 'a b', role: 'root' },
    });
    t.is(codeOf(bad), 'CF_VALIDATION');

    // The generated password works once, only for changing it.
    const first = await call(tc, 'POST', '/api/v1/auth/login', {
      ...la,
      body: { username: 'erin', password: c.password },
    });
    const firstToken = (first.json as { token: string; user: { mustChangePassword: boolean } }).token;
    t.true((first.json as { user: { mustChangePassword: boolean } }).user.mustChangePassword);
    t.is(codeOf(await call(tc, 'GET', '/api/v1/definitions', { ...la, token: firstToken })), 'CF_FORBIDDEN');
    await call(tc, 'POST', '/api/v1/auth/password', {
      ...la,
      token: firstToken,
      body: { currentPassword: c.password, newPassword: USER_PASSWORD },
    });
    const erin = (
      (await call(tc, 'POST', '/api/v1/auth/login', { ...la, body: { username: 'erin', password: USER_PASSWORD } }))
        .json as { token: string }
    ).token;

    // A User may not manage users.
    for (const [method, url, body] of [
      ['GET', '/api/v1/users', undefined],
      ['POST', '/api/v1/users', { username: 'mallory', role: 'admin' }],
      ['PATCH', '/api/v1/users/erin', { role: 'admin' }],
      ['POST', '/api/v1/users/admin/reset-password', undefined],
      ['DELETE', '/api/v1/users/admin', undefined],
    ] as const) {
      const r = await call(tc, method, url, { ...la, token: erin, body });
      t.is(r.status, 403, `${method} ${url}`);
      t.is(codeOf(r), 'CF_FORBIDDEN');
    }

    const list = await call(tc, 'GET', '/api/v1/users', { ...la, token: admin });
    t.is(list.status, 200);
    const items = (list.json as { items: Array<Record<string, unknown>> }).items;
    t.deepEqual(
      items.find((u) => u.username === 'erin') && Object.keys(items.find((u) => u.username === 'erin')!).sort(),
      ['createdAt', 'mustChangePassword', 'role', 'updatedAt', 'username']
    );
    t.false(JSON.stringify(list.json).includes('scrypt'));

    // Promote erin: the new role applies to her existing session at once.
    const promoted = await call(tc, 'PATCH', '/api/v1/users/erin', { ...la, token: admin, body: { role: 'admin' } });
    t.is(promoted.status, 200);
    t.is((promoted.json as { role: string }).role, 'admin');
    t.is((await call(tc, 'GET', '/api/v1/users', { ...la, token: erin })).status, 200);
    const demoted = await call(tc, 'PATCH', '/api/v1/users/erin', { ...la, token: admin, body: { role: 'user' } });
    t.is((demoted.json as { role: string }).role, 'user');
    t.is((await call(tc, 'GET', '/api/v1/users', { ...la, token: erin })).status, 403);

    // Reset: a new generated password, change required, erin's sessions end.
    const reset = await call(tc, 'POST', '/api/v1/users/erin/reset-password', { ...la, token: admin });
    t.is(reset.status, 200);
    const newPassword = (reset.json as { password: string }).password;
    t.true(newPassword.length >= 16);
    t.is((await call(tc, 'GET', '/api/v1/auth/me', { ...la, token: erin })).status, 401);
    const afterReset = await call(tc, 'POST', '/api/v1/auth/login', {
      ...la,
      body: { username: 'erin', password: newPassword },
    });
    t.true((afterReset.json as { user: { mustChangePassword: boolean } }).user.mustChangePassword);
    const erinAgain = (afterReset.json as { token: string }).token;

    // The last admin can be neither demoted nor deleted; an admin cannot delete themselves.
    const demoteLast = await call(tc, 'PATCH', '/api/v1/users/admin', { ...la, token: admin, body: { role: 'user' } });
    t.is(demoteLast.status, 409);
    t.regex((demoteLast.json as { error: { message: string } }).error.message, /last admin/);
    const deleteSelf = await call(tc, 'DELETE', '/api/v1/users/admin', { ...la, token: admin });
    t.is(deleteSelf.status, 409);
    t.is((await call(tc, 'GET', '/api/v1/users/nobody', { ...la, token: admin })).status, 404);
    t.is(codeOf(await call(tc, 'DELETE', '/api/v1/users/nobody', { ...la, token: admin })), 'CF_NOT_FOUND');

    // Delete erin: her sessions end.
    const del = await call(tc, 'DELETE', '/api/v1/users/erin', { ...la, token: admin });
    t.is(del.status, 204);
    t.is((await call(tc, 'GET', '/api/v1/auth/me', { ...la, token: erinAgain })).status, 401);
    const users = (await call(tc, 'GET', '/api/v1/users', { ...la, token: admin })).json as {
      items: Array<{ username: string }>;
    };
    t.false(users.items.some((u) => u.username === 'erin'));
  }
);

test.serial(
  'U1 a role change applies at once; a demoted admin cannot act as admin; the last admin stays',
  async (t) => {
    const { tc, admin } = t.context;
    const la = { localAddress: '127.0.1.7' };
    const second = await createUser(tc, admin, 'frank', 'admin', USER_PASSWORD, la);
    // Two admins: admin demotes frank, then frank (now a User) cannot touch users; admin remains the only admin.
    t.is((await call(tc, 'PATCH', '/api/v1/users/frank', { ...la, token: admin, body: { role: 'user' } })).status, 200);
    t.is(
      (await call(tc, 'PATCH', '/api/v1/users/admin', { ...la, token: second, body: { role: 'user' } })).status,
      403
    );
    const r = await call(tc, 'PATCH', '/api/v1/users/admin', { ...la, token: admin, body: { role: 'user' } });
    t.is(r.status, 409);
    t.is((await call(tc, 'DELETE', '/api/v1/users/frank', { ...la, token: admin })).status, 204);
  }
);

test.serial('U1 strict security headers on every response (API, errors, health, unknown URLs)', async (t) => {
  const { tc, admin } = t.context;
  const expected: Record<string, string> = {
    'content-security-policy':
      "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
      "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    'strict-transport-security': 'max-age=31536000',
    'referrer-policy': 'no-referrer',
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-resource-policy': 'same-origin',
    'x-frame-options': 'DENY',
    'x-content-type-options': 'nosniff',
  };
  const la = { localAddress: '127.0.1.8' };
  for (const [method, path, o] of [
    ['GET', '/api/v1/definitions', { token: admin }],
    ['GET', '/api/v1/definitions', {}],
    ['GET', '/healthz', {}],
    ['GET', '/api/openapi.json', {}],
    ['GET', '/no/such/url', {}],
    ['POST', '/api/v1/auth/login', { body: { username: 'x' } }],
  ] as const) {
    const r = await call(tc, method, path, { ...la, ...o });
    for (const [name, value] of Object.entries(expected)) t.is(r.headers[name], value, `${method} ${path} ${name}`);
    t.regex(String(r.headers['permissions-policy']), /camera=\(\)/);
    t.false(/unsafe-inline|unsafe-eval/.test(String(r.headers['content-security-policy'])));
  }
});

test.serial(
  'U5 logins, failures, logouts, throttling and user changes are in the audit log, without secrets',
  async (t) => {
    const { tc, admin } = t.context;
    const r = await call(tc, 'GET', '/api/v1/audit?limit=500', { token: admin });
    t.is(r.status, 200);
    const items = (
      r.json as { items: Array<{ action: string; targetId: string | null; details: Record<string, unknown> }> }
    ).items;
    const has = (action: string, targetId: string, details?: (d: Record<string, unknown>) => boolean) =>
      t.true(
        items.some((i) => i.action === action && i.targetId === targetId && (!details || details(i.details))),
        `${action} ${targetId}`
      );
    has('auth.login', 'cookie-alice', (d) => d.via === 'cookie');
    has('auth.login', 'cookie-alice', (d) => d.via === 'bearer');
    has('auth.login', 'cookie-bob', (d) => d.replacedSession === true);
    has('auth.logout', 'cookie-bob');
    has('auth.login_failed', 'victim', (d) => d.reason === 'password');
    has('auth.login_throttled', 'victim', (d) => d.remote === '127.0.0.3');
    has('user.created', 'erin', (d) => d.role === 'user');
    has('user.role_changed', 'erin', (d) => d.from === 'user' && d.to === 'admin');
    has('user.password_reset', 'erin');
    has('user.deleted', 'erin');
    has('auth.password_changed', 'cookie-dave');
    const text = JSON.stringify(items);
    for (const secret of [USER_PASSWORD, ADMIN_PASSWORD, 'guess 1', 'another password 5678']) {
      t.false(text.includes(secret), 'no password in the audit log');
    }
  }
);
