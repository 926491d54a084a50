import test from 'ava';
import {
  SESSION_COOKIE,
  clearedSessionCookie,
  readSessionCookie,
  sessionCookie,
} from '../../../../controller/src/http/access/cookie-session';

const token = 'A'.repeat(43);

test('U1 the session cookie is __Host-, Secure, HttpOnly, SameSite=Strict, Path=/ without Domain', (t) => {
  t.is(SESSION_COOKIE, '__Host-certfleet-session');
  t.is(sessionCookie(token), `__Host-certfleet-session=${token}; Path=/; Secure; HttpOnly; SameSite=Strict`);
  t.is(clearedSessionCookie(), '__Host-certfleet-session=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0');
  t.false(/domain=/i.test(sessionCookie(token)));
});

test('U1 reading the cookie: only our name, exactly once, token characters only', (t) => {
  t.is(readSessionCookie(undefined), null);
  t.is(readSessionCookie(`${SESSION_COOKIE}=${token}`), token);
  t.is(readSessionCookie(`theme=dark; ${SESSION_COOKIE}=${token} ; other=1`), token);
  t.is(readSessionCookie(`certfleet-session=${token}`), null, 'without the __Host- prefix');
  t.is(readSessionCookie(`${SESSION_COOKIE}=${token}; ${SESSION_COOKIE}=${'B'.repeat(43)}`), null, 'two values');
  t.is(readSessionCookie(`${SESSION_COOKIE}=short`), null);
  t.is(readSessionCookie(`${SESSION_COOKIE}=${token}%00`), null);
  t.is(readSessionCookie(`${SESSION_COOKIE}=`), null);
});
