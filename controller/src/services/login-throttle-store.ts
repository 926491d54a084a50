/**
 * Login throttling counters in PostgreSQL (table `login_throttle`), shared by every controller process on the
 * database: two replicas give an attacker one budget, not two. Each change is ONE atomic statement
 * (`INSERT … ON CONFLICT … DO UPDATE … RETURNING`), so concurrent attempts on any process serialise on the row.
 * The SQL computes exactly the rules of domain/login-throttle.ts (takeToken, recordPairFailure,
 * recordAccountFailure, pairRetryAfterMs, accountDelayMs); test/integration/controller/login-throttle-store.test.ts
 * replays sequences through both and compares.
 *
 * Times are wall-clock milliseconds from the caller (the same on every replica up to clock skew); the proposed row
 * (`excluded`) carries the current time into the update. Keys are stored as SHA-256 only. A row past
 * `expires_at_ms` says nothing a missing row would not say, and is deleted.
 */
import crypto from 'node:crypto';
import { CertFleetError } from '@certfleet/shared';
import type { LoginThrottlePolicy } from '../domain/login-throttle';
import type { Em } from '../storage/database';

export type ThrottleScope = 'address' | 'pair' | 'account';

/** Integer literal for SQL text (policy numbers are code constants, never input): refuses anything else. */
function int(n: number): string {
  if (!Number.isSafeInteger(n) || n < 0) throw new CertFleetError('CF_INTERNAL', `login throttle: bad number ${n}`);
  return String(n);
}

/** Float literal for SQL text (refill rates). */
function num(n: number): string {
  if (!Number.isFinite(n) || n <= 0) throw new CertFleetError('CF_INTERNAL', `login throttle: bad rate ${n}`);
  return `${n}::float8`;
}

export function keyHash(key: string): string {
  return crypto.createHash('sha256').update(key).digest('hex');
}

/** Failure times of `lt.failures` still inside `windowMs` of the current attempt, oldest first. */
function recent(windowMs: number): string {
  return `array(select f from unnest(coalesce(lt.failures, '{}'::bigint[])) with ordinality as u(f, i)
    where excluded.at_ms - f < ${int(windowMs)} order by i)`;
}

export interface TakeResult {
  ok: boolean;
  retryAfterMs: number;
}

export interface ThrottleReadout {
  /** Milliseconds the (account, address) pair is still refused. */
  pairBlockedMs: number;
  /** Failures of the account over all addresses inside the slow-down window. */
  accountFailures: number;
}

export class LoginThrottleStore {
  private readonly takeSql: string;
  private readonly pairSql: string;
  private readonly accountSql: string;
  private readonly readSql: string;

  constructor(private readonly policy: LoginThrottlePolicy) {
    const { perAddress: a, perPair: p, perAccount: c } = policy;
    if (a.capacity < 1 || p.threshold < 2) {
      throw new CertFleetError('CF_INTERNAL', 'login throttle: capacity must be >= 1 and threshold >= 2');
    }
    const cap = int(a.capacity);
    const rate = num(a.refillPerSecond);
    const fullMs = int(Math.ceil((a.capacity / a.refillPerSecond) * 1000));
    // takeToken: refill since the last attempt (never backwards on clock skew), then take one token if there is one.
    const refilled = `least(${cap}::float8, lt.tokens + greatest(0, excluded.at_ms - lt.at_ms)::float8 / 1000 * ${rate})`;
    this.takeSql = `insert into login_throttle as lt (scope, key_hash, tokens, at_ms, result_ms, expires_at_ms)
      values ('address', ?, ${cap} - 1, ?::bigint, 0, ?::bigint + ${fullMs})
      on conflict (scope, key_hash) do update set
        tokens = case when ${refilled} >= 1 then ${refilled} - 1 else ${refilled} end,
        at_ms = greatest(lt.at_ms, excluded.at_ms),
        result_ms = case when ${refilled} >= 1 then 0 else ceil((1 - ${refilled}) / ${rate} * 1000)::bigint end,
        expires_at_ms = greatest(lt.at_ms, excluded.at_ms) + ${fullMs}
      returning result_ms`;

    // recordPairFailure: `at_ms` is the time of the latest failure.
    const w = int(p.windowMs);
    const r = recent(p.windowMs);
    const n = `cardinality(${r})`;
    const blocks = `(case when ${n} = 0 and lt.blocked_until_ms + ${w} <= excluded.at_ms then 0 else lt.blocks end)`;
    const hit = `(${n} + 1 >= ${int(p.threshold)})`;
    const blockFor = `least(${int(p.maxBlockMs)}, ${int(p.baseBlockMs)} * power(2, least(${blocks}, 30)))::bigint`;
    const until = `(case when ${hit} then excluded.at_ms + ${blockFor} else lt.blocked_until_ms end)`;
    this.pairSql = `insert into login_throttle as lt
        (scope, key_hash, at_ms, failures, blocked_until_ms, blocks, result_ms, expires_at_ms)
      values ('pair', ?, ?::bigint, array[?::bigint], 0, 0, 0, ?::bigint + ${w})
      on conflict (scope, key_hash) do update set
        failures = case when ${hit} then (${r} || excluded.at_ms)[${n} + 3 - ${int(p.threshold)}:]
          else ${r} || excluded.at_ms end,
        blocked_until_ms = ${until},
        blocks = case when ${hit} then ${blocks} + 1 else ${blocks} end,
        result_ms = case when ${hit} then ${blockFor} else 0 end,
        at_ms = excluded.at_ms,
        expires_at_ms = greatest(${until}, excluded.at_ms) + ${w}
      returning result_ms`;

    // recordAccountFailure: the window's failures, capped in length.
    const keep = int(c.slowAfter + Math.ceil(c.maxDelayMs / c.stepMs) + 1);
    const ra = recent(c.windowMs);
    const na = `cardinality(${ra})`;
    this.accountSql = `insert into login_throttle as lt (scope, key_hash, at_ms, failures, result_ms, expires_at_ms)
      values ('account', ?, ?::bigint, array[?::bigint], 0, ?::bigint + ${int(c.windowMs)})
      on conflict (scope, key_hash) do update set
        failures = case when ${na} + 1 > ${keep} then (${ra} || excluded.at_ms)[${na} + 2 - ${keep}:]
          else ${ra} || excluded.at_ms end,
        at_ms = excluded.at_ms,
        expires_at_ms = excluded.at_ms + ${int(c.windowMs)}
      returning result_ms`;

    this.readSql = `select scope, blocked_until_ms::text as until,
        (select count(*) from unnest(coalesce(failures, '{}'::bigint[])) f where ?::bigint - f < ${int(c.windowMs)})::int as n
      from login_throttle
      where (scope = 'pair' and key_hash = ?) or (scope = 'account' and key_hash = ?)`;
  }

  /** takeToken for the address `key`. */
  async take(em: Em, key: string, nowMs: number): Promise<TakeResult> {
    const now = int(Math.floor(nowMs));
    const rows = await em.getConnection().execute<{ result_ms: string }[]>(this.takeSql, [keyHash(key), now, now]);
    const retryAfterMs = Number(rows[0]?.result_ms ?? 0);
    return { ok: retryAfterMs === 0, retryAfterMs };
  }

  /** recordPairFailure for the pair `key`: the block length this failure started (0 = none). */
  async pairFailure(em: Em, key: string, nowMs: number): Promise<number> {
    const now = int(Math.floor(nowMs));
    const rows = await em.getConnection().execute<{ result_ms: string }[]>(this.pairSql, [keyHash(key), now, now, now]);
    return Number(rows[0]?.result_ms ?? 0);
  }

  /** recordAccountFailure for the account `key`. */
  async accountFailure(em: Em, key: string, nowMs: number): Promise<void> {
    const now = int(Math.floor(nowMs));
    await em.getConnection().execute(this.accountSql, [keyHash(key), now, now, now]);
  }

  /** pairRetryAfterMs and the failure count accountDelayMs needs, in one round trip. */
  async read(em: Em, pairKey: string, accountKey: string, nowMs: number): Promise<ThrottleReadout> {
    const now = Math.floor(nowMs);
    const rows = await em
      .getConnection()
      .execute<{ scope: string; until: string | null; n: number }[]>(this.readSql, [
        int(now),
        keyHash(pairKey),
        keyHash(accountKey),
      ]);
    const pair = rows.find((r) => r.scope === 'pair');
    const account = rows.find((r) => r.scope === 'account');
    return {
      pairBlockedMs: Math.max(0, Number(pair?.until ?? 0) - now),
      accountFailures: account?.n ?? 0,
    };
  }

  async clearPair(em: Em, key: string): Promise<void> {
    await em
      .getConnection()
      .execute(`delete from login_throttle where scope = 'pair' and key_hash = ?`, [keyHash(key)]);
  }

  /** Deletes expired rows; returns how many. */
  async expire(em: Em, nowMs: number): Promise<number> {
    const rows = await em
      .getConnection()
      .execute<{ n: number }[]>(
        `with d as (delete from login_throttle where expires_at_ms < ?::bigint returning 1) select count(*)::int as n from d`,
        [int(Math.floor(nowMs))]
      );
    return rows[0]?.n ?? 0;
  }
}
