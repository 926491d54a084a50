/**
 * Login throttling of the controller (rules and numbers: domain/login-throttle.ts). Attempts over the per-address
 * budget and attempts of a blocked (account, address) pair are answered CF_RATE_LIMITED (429) with `retry-after`,
 * before the password is even checked; the per-account slow-down only delays the answer.
 * The counters live in PostgreSQL (services/login-throttle-store.ts), so every controller process on the database
 * counts against the same budgets and a restart forgets nothing; expired rows are deleted at most once a minute per
 * process. Account names are counted case-insensitively.
 */
import { CertFleetError } from '@certfleet/shared';
import {
  DEFAULT_LOGIN_THROTTLE,
  addressKey,
  delayForFailures,
  type LoginThrottlePolicy,
} from '../../domain/login-throttle';
import type { ServiceContext } from '../../services/context';
import { LoginThrottleStore } from '../../services/login-throttle-store';

const EXPIRE_EVERY_MS = 60_000;

function rateLimited(retryAfterMs: number, message: string): CertFleetError {
  const retryAfterSeconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return new CertFleetError('CF_RATE_LIMITED', `auth: ${message}; try again in ${retryAfterSeconds} s`, {
    retryable: true,
    details: { retryAfterSeconds },
  });
}

export class LoginThrottle {
  private readonly store: LoginThrottleStore;
  private lastExpireMs = -Infinity;

  constructor(
    private readonly ctx: Pick<ServiceContext, 'db' | 'log'>,
    private readonly policy: LoginThrottlePolicy = DEFAULT_LOGIN_THROTTLE,
    /** Wall-clock milliseconds: shared by all replicas (a monotonic clock would differ per process). */
    private readonly nowMs: () => number = () => Date.now(),
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms))
  ) {
    this.store = new LoginThrottleStore(policy);
  }

  private static pairKey(username: string, address: string): string {
    return `${username.toLowerCase()}\u0000${addressKey(address)}`;
  }

  /**
   * Call before checking credentials: throws CF_RATE_LIMITED when the address is over budget or the pair is
   * blocked; waits the per-account slow-down otherwise.
   */
  async beforeAttempt(username: string, address: string): Promise<void> {
    const now = this.nowMs();
    const em = this.ctx.db.em();
    await this.expireNowAndThen(now);
    const taken = await this.store.take(em, addressKey(address), now);
    if (!taken.ok) throw rateLimited(taken.retryAfterMs, 'too many login attempts from your address');
    const state = await this.store.read(em, LoginThrottle.pairKey(username, address), username.toLowerCase(), now);
    if (state.pairBlockedMs > 0) {
      throw rateLimited(state.pairBlockedMs, 'too many failed logins for this account from your address');
    }
    const delay = delayForFailures(state.accountFailures, this.policy.perAccount);
    if (delay > 0) await this.sleep(delay);
  }

  /** Records a failed attempt; returns the block length when this failure blocked the pair (0 otherwise). */
  async onFailure(username: string, address: string): Promise<number> {
    const now = this.nowMs();
    const em = this.ctx.db.em();
    const blockedForMs = await this.store.pairFailure(em, LoginThrottle.pairKey(username, address), now);
    await this.store.accountFailure(em, username.toLowerCase(), now);
    return blockedForMs;
  }

  /** A successful login clears the pair (the account-wide slow-down keeps counting other addresses' failures). */
  async onSuccess(username: string, address: string): Promise<void> {
    await this.store.clearPair(this.ctx.db.em(), LoginThrottle.pairKey(username, address));
  }

  /** Deletes expired counters, at most once per EXPIRE_EVERY_MS in this process; a failure is only logged. */
  private async expireNowAndThen(now: number): Promise<void> {
    if (now - this.lastExpireMs < EXPIRE_EVERY_MS) return;
    this.lastExpireMs = now;
    try {
      await this.store.expire(this.ctx.db.em(), now);
    } catch (err) {
      this.ctx.log.warn({ err }, 'login throttle: deleting expired counters failed');
    }
  }
}

const throttles = new WeakMap<ServiceContext, LoginThrottle>();

/** The login throttle of this controller (one per service context; the counters are shared through the database). */
export function loginThrottle(ctx: ServiceContext): LoginThrottle {
  let t = throttles.get(ctx);
  if (!t) {
    t = new LoginThrottle(ctx);
    throttles.set(ctx, t);
  }
  return t;
}
