/**
 * V8 flags the controller process runs with (`npm start` and the `certfleet` shebang carry them; a unit test keeps
 * the three in step). A reconnect storm of thousands of agents allocates a lot of short-lived garbage per TLS
 * handshake; with V8's default 16 MiB semi-spaces (48 MiB of young generation) much of it is promoted and the heap
 * grows far beyond the ≈ 85 MiB that 2,000 sessions keep alive (331 MiB used, 571 MiB RSS at the end of a storm with
 * V8's own heuristics). Two flags keep memory proportional to what is live, without a hard heap cap that a large
 * import or backup could hit:
 * - `--max-semi-space-size=4`: a smaller young generation (more, shorter scavenges);
 * - `--heap-growing-percent=50`: after a full collection the next one is due when the heap has grown by half of what
 *   survived, instead of V8's factor of up to 4 — so old-generation garbage is collected while it is still small
 *   (storm RSS 430 MiB, loop p99 57 ms; bench/README.md, `fleet`).
 */
export const CONTROLLER_NODE_FLAGS = ['--max-semi-space-size=4', '--heap-growing-percent=50'] as const;
