/** Exponential backoff with full jitter (AWS architecture blog): random in [0, min(cap, base·2^attempt)]. */
export function backoffDelayMs(
  attempt: number,
  random: () => number = Math.random,
  baseMs = 1000,
  capMs = 60_000
): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}

/** When to renew a certificate: about half its life, ±10 % jitter (smallstep's renewBefore + jitter). */
export function renewAt(notBefore: Date, notAfter: Date, random: () => number = Math.random): Date {
  const life = notAfter.getTime() - notBefore.getTime();
  const jitter = (random() * 0.2 - 0.1) * life;
  return new Date(notBefore.getTime() + life / 2 + jitter);
}
