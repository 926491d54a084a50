/**
 * Login throttling arithmetic (SPEC U1, OWASP ASVS "anti-automation without lock-out"). Pure: every function takes
 * the current time in milliseconds and returns the new state, so the rules are unit-tested without waiting.
 *
 * Three layers, none of which can lock the real user out from their own address:
 * - per source address: a token bucket over all login attempts (password spraying across many accounts);
 * - per (account, source address): after `threshold` failures inside `windowMs`, that pair is refused for a
 *   window that doubles with every further block (`baseBlockMs` … `maxBlockMs`); other addresses are unaffected;
 * - per account over all addresses: past `slowAfter` failures inside the window every attempt for the account is
 *   delayed (never refused), so a distributed guesser is slowed without denying the owner.
 */
import { formatIp, parseIp } from './cidr';

export interface TokenBucketPolicy {
  capacity: number;
  refillPerSecond: number;
}

export interface TokenBucket {
  tokens: number;
  atMs: number;
}

/** Takes one token. `retryAfterMs` is how long until the next token exists when none is left. */
export function takeToken(
  bucket: TokenBucket | undefined,
  nowMs: number,
  policy: TokenBucketPolicy
): { bucket: TokenBucket; ok: boolean; retryAfterMs: number } {
  const elapsed = Math.max(0, nowMs - (bucket?.atMs ?? nowMs));
  const tokens = Math.min(
    policy.capacity,
    (bucket?.tokens ?? policy.capacity) + (elapsed / 1000) * policy.refillPerSecond
  );
  if (tokens >= 1) return { bucket: { tokens: tokens - 1, atMs: nowMs }, ok: true, retryAfterMs: 0 };
  return {
    bucket: { tokens, atMs: nowMs },
    ok: false,
    retryAfterMs: Math.ceil(((1 - tokens) / policy.refillPerSecond) * 1000),
  };
}

export interface FailurePolicy {
  threshold: number;
  windowMs: number;
  baseBlockMs: number;
  maxBlockMs: number;
}

/** Failures of one (account, address) pair. */
export interface PairState {
  /** Failure times inside the window, oldest first (at most `threshold` kept). */
  failures: number[];
  blockedUntilMs: number;
  /** Blocks so far; the next block lasts `baseBlockMs * 2^blocks`. Forgotten after a quiet window. */
  blocks: number;
}

/** Milliseconds the pair is still refused (0 = may try). */
export function pairRetryAfterMs(state: PairState | undefined, nowMs: number): number {
  return state ? Math.max(0, state.blockedUntilMs - nowMs) : 0;
}

/** Records a failure; when the pair reaches the threshold it is blocked for a growing window. */
export function recordPairFailure(
  state: PairState | undefined,
  nowMs: number,
  policy: FailurePolicy
): { state: PairState; blockedForMs: number } {
  const recent = (state?.failures ?? []).filter((t) => nowMs - t < policy.windowMs);
  // A pair quiet for a whole window (no failures and no block) starts over at the base block length.
  const quiet = recent.length === 0 && (state?.blockedUntilMs ?? 0) + policy.windowMs <= nowMs;
  const blocks = quiet ? 0 : (state?.blocks ?? 0);
  recent.push(nowMs);
  if (recent.length < policy.threshold) {
    return {
      state: { failures: recent, blockedUntilMs: state?.blockedUntilMs ?? 0, blocks },
      blockedForMs: 0,
    };
  }
  const blockedForMs = Math.min(policy.maxBlockMs, policy.baseBlockMs * 2 ** Math.min(blocks, 30));
  // Keep threshold-1 failures: after the block one more failure blocks again (longer), a success clears all.
  return {
    state: {
      failures: recent.slice(-(policy.threshold - 1)),
      blockedUntilMs: nowMs + blockedForMs,
      blocks: blocks + 1,
    },
    blockedForMs,
  };
}

export interface SlowdownPolicy {
  windowMs: number;
  slowAfter: number;
  stepMs: number;
  maxDelayMs: number;
}

/** Failure times of one account over all addresses, pruned to the window and capped in length. */
export function recordAccountFailure(
  failures: readonly number[] | undefined,
  nowMs: number,
  policy: SlowdownPolicy
): number[] {
  const recent = (failures ?? []).filter((t) => nowMs - t < policy.windowMs);
  recent.push(nowMs);
  const cap = policy.slowAfter + Math.ceil(policy.maxDelayMs / policy.stepMs) + 1;
  return recent.length > cap ? recent.slice(-cap) : recent;
}

/** Delay before answering an attempt for the account: grows by `stepMs` per failure past `slowAfter`, capped. */
export function accountDelayMs(failures: readonly number[] | undefined, nowMs: number, policy: SlowdownPolicy): number {
  return delayForFailures((failures ?? []).filter((t) => nowMs - t < policy.windowMs).length, policy);
}

/** The slow-down for `n` failures inside the window. */
export function delayForFailures(n: number, policy: SlowdownPolicy): number {
  return Math.min(policy.maxDelayMs, Math.max(0, n - policy.slowAfter) * policy.stepMs);
}

export interface LoginThrottlePolicy {
  perAddress: TokenBucketPolicy;
  perPair: FailurePolicy;
  perAccount: SlowdownPolicy;
}

/** Defaults: 30 attempts per address then one per 2 s; 5 failures per pair in 15 min block it 1 min, 2, 4 … 15 min. */
export const DEFAULT_LOGIN_THROTTLE: LoginThrottlePolicy = {
  perAddress: { capacity: 30, refillPerSecond: 0.5 },
  perPair: { threshold: 5, windowMs: 15 * 60_000, baseBlockMs: 60_000, maxBlockMs: 15 * 60_000 },
  perAccount: { windowMs: 15 * 60_000, slowAfter: 20, stepMs: 250, maxDelayMs: 3_000 },
};

/**
 * The key an address is counted under: the IPv4 address itself, or the /64 of an IPv6 address (one host usually
 * owns a whole /64, so counting single IPv6 addresses would let it rotate through 2^64 buckets).
 */
export function addressKey(address: string): string {
  const ip = parseIp(address);
  if (!ip) return address.slice(0, 64);
  if (ip.family === 4) return formatIp(ip);
  return `${formatIp({ family: 6, value: (ip.value >> 64n) << 64n })}/64`;
}
