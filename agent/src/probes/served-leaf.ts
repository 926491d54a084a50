/**
 * Probe `served-leaf` (SPEC D2): connects to a TLS endpoint and returns the SHA-256 (hex) of the DER of the leaf
 * certificate it serves, to compare with a bundle's `leafSha256`.
 *
 * A thin adapter over the shared probe engine (`probeEndpoint` in `@certfleet/shared`), which owns the
 * connection, SNI, STARTTLS dialogues, bounds and cleanup:
 * - SNI is `serverName ?? host`, omitted when that is an IP address (RFC 6066 forbids IP literals in SNI).
 * - STARTTLS: `smtp`, `imap` and `pop3` dialogues; any unexpected reply fails the probe.
 * - The chain is never trust-verified: the probe compares fingerprints, it does not authenticate the server, and a
 *   private-CA or not-yet-trusted certificate must still be observable.
 * - Bounded: one deadline covers connect, dialogue and handshake. Observes only, never writes anything.
 */
import { X509Certificate } from 'node:crypto';
import { probeEndpoint, sha256Fingerprint, sniFor as sharedSniFor } from '@certfleet/shared';

export type StartTls = 'smtp' | 'imap' | 'pop3';

export interface ServedLeafProbeOptions {
  host: string;
  port: number;
  serverName?: string;
  starttls?: StartTls;
  /** Deadline for the whole attempt. @default 5000 */
  timeoutMs?: number;
}

export type ServedLeafResult =
  { ok: true; sha256: string; notAfter: string; subject: string } | { ok: false; message: string };

/** SNI for a probe target: the server name or host, unless it is an IP literal. */
export function sniFor(host: string, serverName?: string): string | undefined {
  return sharedSniFor(host, serverName);
}

/**
 * One probe attempt. Never throws: a refused connection, a timeout or a failed dialogue/handshake is
 * `{ ok: false, message }` (the message names the engine's error code and the system error, e.g. ECONNREFUSED).
 */
export async function probeServedLeaf(opts: ServedLeafProbeOptions): Promise<ServedLeafResult> {
  const observation = await probeEndpoint({
    host: opts.host,
    port: opts.port,
    serverName: sniFor(opts.host, opts.serverName) ?? null,
    ...(opts.starttls ? { starttls: opts.starttls } : {}),
    timeoutMs: opts.timeoutMs ?? 5000,
  });
  const leaf = observation.chain[0];
  if (!observation.ok || !leaf) {
    const error = observation.error ?? { code: 'HandshakeFailed', message: 'the server sent no certificate' };
    return { ok: false, message: `${error.code}: ${error.message}` };
  }
  let notAfter = '';
  let subject = '';
  try {
    const x509 = new X509Certificate(leaf);
    const parsed = Date.parse(x509.validTo);
    notAfter = Number.isNaN(parsed) ? '' : new Date(parsed).toISOString();
    subject = /^CN=(.*)$/m.exec(x509.subject)?.[1] ?? '';
  } catch {
    // an undecodable leaf still has a fingerprint
  }
  return { ok: true, sha256: sha256Fingerprint(leaf), notAfter, subject };
}
