/**
 * Connection admission for the agent listener (SPEC G2): a token bucket limits how many new TCP connections per
 * second are handed to TLS, so a reconnect storm of thousands of agents queues instead of spending the event loop
 * on simultaneous handshakes. Queued sockets wait (paused, bounded queue and wait time) and are dropped beyond.
 */
import type net from 'node:net';

export interface AdmissionOptions {
  /** Connections admitted per second (also the burst size). */
  ratePerSecond: number;
  /** Sockets waiting at most; beyond, new connections are closed at once (the agent backs off and retries). */
  maxQueue?: number;
  /** A queued socket is closed after this long. */
  maxWaitMs?: number;
}

export interface AdmissionStats {
  admitted: number;
  queuedPeak: number;
  dropped: number;
}

export class ConnectionAdmission {
  private tokens: number;
  private last = Date.now();
  private readonly queue: { socket: net.Socket; since: number }[] = [];
  private timer: NodeJS.Timeout | null = null;
  readonly stats: AdmissionStats = { admitted: 0, queuedPeak: 0, dropped: 0 };

  constructor(
    private readonly options: AdmissionOptions,
    private readonly admit: (socket: net.Socket) => void
  ) {
    this.tokens = options.ratePerSecond;
  }

  offer(socket: net.Socket): void {
    this.refill();
    if (this.queue.length === 0 && this.tokens >= 1) {
      this.tokens -= 1;
      this.pass(socket);
      return;
    }
    if (this.queue.length >= (this.options.maxQueue ?? 10_000)) {
      this.stats.dropped += 1;
      socket.destroy();
      return;
    }
    socket.pause();
    socket.once('close', () => {
      const i = this.queue.findIndex((q) => q.socket === socket);
      if (i >= 0) this.queue.splice(i, 1);
    });
    this.queue.push({ socket, since: Date.now() });
    this.stats.queuedPeak = Math.max(this.stats.queuedPeak, this.queue.length);
    this.schedule();
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    for (const q of this.queue.splice(0)) q.socket.destroy();
  }

  private pass(socket: net.Socket): void {
    this.stats.admitted += 1;
    // Handed over as it is: a queued socket stays paused and TLS takes its handle and reads the bytes buffered
    // meanwhile (the ClientHello). Resuming it here would make it flow into a 'data' event nobody listens to, and
    // the handshake would hang until the client times out.
    this.admit(socket);
  }

  private refill(): void {
    const now = Date.now();
    this.tokens = Math.min(
      this.options.ratePerSecond,
      this.tokens + ((now - this.last) / 1000) * this.options.ratePerSecond
    );
    this.last = now;
  }

  private schedule(): void {
    if (this.timer) return;
    const step = Math.max(5, Math.ceil(1000 / this.options.ratePerSecond));
    this.timer = setTimeout(() => {
      this.timer = null;
      this.drain();
    }, step);
    this.timer.unref();
  }

  private drain(): void {
    this.refill();
    const maxWait = this.options.maxWaitMs ?? 30_000;
    const now = Date.now();
    while (this.queue.length > 0) {
      const head = this.queue[0];
      if (!head) break;
      if (head.socket.destroyed) {
        this.queue.shift();
        continue;
      }
      if (now - head.since > maxWait) {
        this.queue.shift();
        this.stats.dropped += 1;
        head.socket.destroy();
        continue;
      }
      if (this.tokens < 1) break;
      this.tokens -= 1;
      this.queue.shift();
      this.pass(head.socket);
    }
    if (this.queue.length > 0) this.schedule();
  }
}
