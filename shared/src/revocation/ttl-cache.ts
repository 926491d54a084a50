/**
 * A bounded LRU whose entries expire at a time of their own, with concurrent loads of one key sharing one
 * producer call (SPEC M6: the CRL and OCSP caches). Failed loads are not remembered; callers store values with
 * {@link TtlCache.set} once they trust them.
 */
export class TtlCache<V> {
  private readonly entries = new Map<string, { value: V; until: number }>();
  private readonly inflight = new Map<string, Promise<V>>();
  constructor(readonly maxEntries: number) {}

  get size(): number {
    return this.entries.size;
  }

  /** The value while `now` is before its expiry (and marks it most recently used). */
  get(key: string, now: Date): V | undefined {
    const hit = this.entries.get(key);
    if (!hit) return undefined;
    this.entries.delete(key);
    if (hit.until <= now.getTime()) return undefined;
    this.entries.set(key, hit); // most recently used last
    return hit.value;
  }

  /** Stores `value` until the epoch millisecond `until` (nothing when that has passed), evicting the oldest. */
  set(key: string, value: V, until: number, now: Date): void {
    this.entries.delete(key);
    if (until <= now.getTime()) return;
    this.entries.set(key, { value, until });
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
  }

  /** The cached value, or one `produce()` shared by concurrent callers (its result is not stored). */
  async load(key: string, now: Date, produce: () => Promise<V>): Promise<V> {
    const hit = this.get(key, now);
    if (hit) return hit;
    let p = this.inflight.get(key);
    if (!p) {
      p = produce().finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return p;
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }
}
