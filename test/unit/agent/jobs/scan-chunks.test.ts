/**
 * Agent scan jobs stream what they find in bounded ScanProgress messages (SPEC S1, G2): every message stays under
 * the channel's agent message limit, however many endpoints were found and however large their chains are.
 */
import test from 'ava';
import { type DiscoveredEndpoint, ScanProgress } from '@certfleet/proto';
import {
  MAX_AGENT_MESSAGE_BYTES,
  MAX_SCAN_CHUNK_BYTES,
  MAX_SCAN_CHUNK_ENDPOINTS,
  type ScanHit,
} from '@certfleet/shared';
import { chunkEnd, encodedSize, toEndpoint } from '../../../../agent/src/jobs/scan-job';

function endpoint(i: number, certBytes: number, certs = 2): DiscoveredEndpoint {
  return {
    host: `198.18.${i >> 8}.${i & 255}`,
    port: 443,
    address: `198.18.${i >> 8}.${i & 255}`,
    serverName: '',
    starttls: '',
    certificateChain: Array.from({ length: certs }, () => Buffer.alloc(certBytes, i & 255)),
    protocol: 'TLSv1.3',
    cipher: 'TLS_AES_256_GCM_SHA384',
    handshakeMs: 3,
  };
}

/** Splits like the scan job does and returns each message's encoded size and endpoint count. */
function messages(endpoints: DiscoveredEndpoint[]): Array<{ bytes: number; count: number; hosts: string[] }> {
  const items = endpoints.map((e) => ({ endpoint: e, bytes: encodedSize(e) }));
  const out: Array<{ bytes: number; count: number; hosts: string[] }> = [];
  for (let from = 0; from < items.length;) {
    const end = chunkEnd(items, from);
    const chunk = items.slice(from, end).map((x) => x.endpoint);
    const bytes = ScanProgress.encode({
      jobId: '00000000-0000-4000-8000-000000000000',
      done: 1_048_576,
      total: 1_048_576,
      found: 1_048_576,
      endpoints: chunk,
      summary: undefined,
    }).finish().length;
    out.push({ bytes, count: chunk.length, hosts: chunk.map((e) => e.host) });
    from = end;
  }
  return out;
}

test('S1 many small endpoints go in chunks of at most 256, each message under the agent limit', (t) => {
  const all = Array.from({ length: 1_000 }, (_, i) => endpoint(i, 1_000));
  const sent = messages(all);
  t.is(sent.length, 4);
  t.deepEqual(
    sent.map((m) => m.count),
    [MAX_SCAN_CHUNK_ENDPOINTS, MAX_SCAN_CHUNK_ENDPOINTS, MAX_SCAN_CHUNK_ENDPOINTS, 1_000 - 3 * MAX_SCAN_CHUNK_ENDPOINTS]
  );
  t.deepEqual(
    sent.flatMap((m) => m.hosts),
    all.map((e) => e.host),
    'every endpoint once, in order'
  );
  for (const m of sent) t.true(m.bytes <= MAX_SCAN_CHUNK_BYTES + 1_024 && m.bytes < MAX_AGENT_MESSAGE_BYTES);
});

test('S1 large chains split by bytes: no message exceeds the agent limit', (t) => {
  const all = Array.from({ length: 40 }, (_, i) => endpoint(i, 60_000, 3)); // ≈ 180 KB each
  const sent = messages(all);
  t.true(sent.length >= 10, `${sent.length} messages`);
  t.is(
    sent.reduce((n, m) => n + m.count, 0),
    40
  );
  for (const m of sent) t.true(m.bytes < MAX_AGENT_MESSAGE_BYTES, `${m.bytes} bytes`);
});

test('S1 one endpoint is bounded on the wire: at most 10 certificates of at most 64 KiB', (t) => {
  const huge = Buffer.alloc(100_000, 1);
  const big = Buffer.alloc(65_536, 2);
  const hit = {
    targetIndex: 0,
    portIndex: 0,
    target: { host: 'a'.repeat(253), kind: 'name' },
    spec: { port: 465, starttls: null },
    address: '198.18.0.1',
    observation: {
      host: '198.18.0.1',
      port: 465,
      serverName: 'a'.repeat(253),
      ok: true,
      chain: [big, huge, ...Array.from({ length: 14 }, () => big)],
      protocol: 'x'.repeat(500),
      cipher: 'y'.repeat(500),
      timings: { totalMs: 12.6 },
    },
  } as ScanHit;
  const e = toEndpoint(hit);
  t.is(e.certificateChain.length, 9, 'the oversized certificate is dropped, the chain cut at 10');
  t.true(e.certificateChain.every((c) => c.length <= 65_536));
  t.is(e.protocol.length, 50);
  t.is(e.handshakeMs, 13);
  const [only] = messages([e, e]);
  t.is(only?.count, 1, 'two worst-case endpoints do not share a message');
  t.true((only?.bytes ?? Infinity) < MAX_AGENT_MESSAGE_BYTES);
});
