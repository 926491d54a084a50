/**
 * Login throttling state of one controller process (rules and numbers: domain/login-throttle.ts). Attempts over
 * the per-address budget and attempts of a blocked (account, address) pair are answered CF_RATE_LIMITED (429)
 * with `retry-after`, before the password is even checked; the per-account slow-down only delays the answer.
 * State is in memory and per process (a restart forgets it); every map is bounded, dropping the oldest entries.
 * Account names are counted case-insensitively.
 */
import { CertFleetError } from '@certfleet/shared';
import {
  DEFAULT_LOGIN_THROTTLE,
  accountDelayMs,
  addressKey,
  pairRetryAfterMs,
  recordAccountFailure,
  recordPairFailure,
  takeToken,
  type LoginThrottlePolicy,
  type PairState,
  type TokenBucket,
} from '../../domain/login-throttle';
import type { ServiceContext } from '../../services/context';

const MAX_ENTRIES = 20_000;

/** Map.set with a size bound: re-inserting moves a key to the end, the oldest key goes first. */
function put<V>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > MAX_ENTRIES) {
    const oldest = map.keys().next().value;
    if (oldest !== undefined) map.delete(oldest);
  }
}

function rateLimited(retryAfterMs: number, message: string): CertFleetError {
  const retryAfterSeconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return new CertFleetError('CF_RATE_LIMITED', `auth: ${message}; try again in ${retryAfterSeconds} s`, {
    retryable: true,
    details: { retryAfterSeconds },
  });
}

export class LoginThrottle {
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly pairs = new Map<string, PairState>();
  private readonly accounts = new Map<string, number[]>();

  constructor(
    private readonly policy: LoginThrottlePolicy = DEFAULT_LOGIN_THROTTLE,
    private readonly nowMs: () => number = () => performance.now(),
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms))
  ) {}

  private static pairKey(username: string, address: string): string {
    return `${username.toLowerCase()}\u0000${addressKey(address)}`;
  }

  /**
   * Call before checking credentials: throws CF_RATE_LIMITED when the address is over budget or the pair is
   * blocked; waits the per-account slow-down otherwise.
   */
  async beforeAttempt(username: string, address: string): Promise<void> {
    const now = this.nowMs();
    const aKey = addressKey(address);
    const taken = takeToken(this.buckets.get(aKey), now, this.policy.perAddress);
    put(this.buckets, aKey, taken.bucket);
    if (!taken.ok) throw rateLimited(taken.retryAfterMs, 'too many login attempts from your address');
    const blocked = pairRetryAfterMs(this.pairs.get(LoginThrottle.pairKey(username, address)), now);
    if (blocked > 0) throw rateLimited(blocked, 'too many failed logins for this account from your address');
    const delay = accountDelayMs(this.accounts.get(username.toLowerCase()), now, this.policy.perAccount);
    if (delay > 0) await this.sleep(delay);
  }

  /** Records a failed attempt; returns the block length when this failure blocked the pair (0 otherwise). */
  onFailure(username: string, address: string): number {
    const now = this.nowMs();
    const key = LoginThrottle.pairKey(username, address);
    const r = recordPairFailure(this.pairs.get(key), now, this.policy.perPair);
    put(this.pairs, key, r.state);
    const account = username.toLowerCase();
    put(this.accounts, account, recordAccountFailure(this.accounts.get(account), now, this.policy.perAccount));
    return r.blockedForMs;
  }

  /** A successful login clears the pair (the account-wide slow-down keeps counting other addresses' failures). */
  onSuccess(username: string, address: string): void {
    this.pairs.delete(LoginThrottle.pairKey(username, address));
  }
}

const throttles = new WeakMap<ServiceContext, LoginThrottle>();

/** The login throttle of this controller (one per service context). */
export function loginThrottle(ctx: ServiceContext): LoginThrottle {
  let t = throttles.get(ctx);
  if (!t) {
    t = new LoginThrottle();
    throttles.set(ctx, t);
  }
  return t;
}
