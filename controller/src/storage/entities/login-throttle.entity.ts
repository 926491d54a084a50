import { EntitySchema } from '@mikro-orm/core';

/**
 * Login throttling counters shared by every controller process on the database (SPEC U1; rules in
 * domain/login-throttle.ts, SQL in services/login-throttle-store.ts). Written only with atomic upserts; a row whose
 * `expiresAtMs` has passed holds no more information than a missing row and is deleted.
 */
export interface LoginThrottleRow {
  /** `address` (token bucket), `pair` (account + address failures) or `account` (failures over all addresses). */
  scope: string;
  /** SHA-256 (hex) of the scope's key: no user names or addresses in clear, fixed length. */
  keyHash: string;
  /** address: tokens left after the last attempt. */
  tokens: number | null;
  /** address: time of the last attempt; ms since the epoch. */
  atMs: string | null;
  /** pair/account: failure times inside the window (ms since the epoch), oldest first. */
  failures: string[] | null;
  /** pair: refused until (ms since the epoch). */
  blockedUntilMs: string | null;
  /** pair: blocks so far (the next one lasts twice as long). */
  blocks: number | null;
  /** The outcome of the last write: address = retry-after ms (0 = allowed), pair = block started (ms, 0 = none). */
  resultMs: string;
  expiresAtMs: string;
}

export const LoginThrottleEntity = new EntitySchema<LoginThrottleRow>({
  name: 'LoginThrottleRow',
  tableName: 'login_throttle',
  properties: {
    scope: { type: 'string', length: 10, primary: true },
    keyHash: { type: 'string', length: 64, primary: true },
    tokens: { type: 'double', nullable: true },
    atMs: { type: 'bigint', nullable: true },
    failures: { type: 'unknown', columnType: 'bigint[]', nullable: true },
    blockedUntilMs: { type: 'bigint', nullable: true },
    blocks: { type: 'integer', nullable: true },
    resultMs: { type: 'bigint' },
    expiresAtMs: { type: 'bigint', index: true },
  },
});
