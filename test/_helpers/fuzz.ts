/**
 * A seeded mutation fuzzer for `parseMaterial` (SPEC I3: never crash, never hang).
 *
 * Seeds are the generated fixtures. Each input is 1–3 stacked mutations of one seed: bit flips, byte overwrites
 * with boundary values, inserts, deletes, truncation, splicing with another seed, chunk duplication, and
 * DER-aware mutations (length fields set to boundary values, tag changes, sibling swaps, node removal or
 * truncation). PEM seeds also get their DER mutated *inside* the armour (re-encoded as valid base64), so the
 * fuzzer reaches the DER parsers through PEM, plus line-level edits.
 *
 * PKCS#12 and JKS seeds can be "resealed" (integrity check recomputed after mutation) so that mutated content
 * gets past the MAC / keyed digest instead of always ending as a wrong password.
 *
 * Every outcome must be a success or a CertFleetError with a CF_IMPORT_* code, each within one second.
 *
 * Runs per parser: `FUZZ_RUNS`, else 100,000 when `CI=true`, else 5,000. Mutation seed: `FUZZ_SEED` (default
 * fixed), logged so a run can be replayed (fixture keys differ per run, so failures also log the input).
 */
import { createHash, createHmac } from 'node:crypto';
import anyTest, { type TestFn } from 'ava';
import { type ParseMaterialOptions, isCertFleetError, parseMaterial } from '@certfleet/shared';
import { pkcs12Kdf, pkcs12PasswordBytes } from '../../shared/src/import/pkcs12-kdf';
import {
  contentOf,
  explicitContent,
  parseAsn1,
  readAlgorithmIdentifier,
  readInteger,
  readOctetString,
  sequenceOf,
} from '../../shared/src/x509/der';
import { type Fixtures, getFixtures, readFixture } from './fixtures';

/** One seed input with the options it parses with. */
export interface FuzzSeed {
  readonly label: string;
  readonly path: string;
  readonly options?: ParseMaterialOptions;
  /**
   * Recompute the integrity check (PKCS#12 MAC, JKS keyed SHA-1) with `options.password` after mutating half of
   * the inputs, so mutations inside the protected content reach the parsers behind the check.
   */
  readonly reseal?: 'pkcs12' | 'jks';
}

/** Aggregated results of a fuzz campaign. */
export interface FuzzStats {
  runs: number;
  accepted: number;
  rejected: Record<string, number>;
  maxMs: number;
  maxLabel: string;
  totalMs: number;
  crashes: { label: string; mutations: string; error: string; inputBase64: string }[];
}

/** Runs per parser for this environment. */
export function fuzzRuns(): number {
  const configured = Number(process.env.FUZZ_RUNS);
  if (Number.isInteger(configured) && configured > 0) return configured;
  return process.env.CI === 'true' ? 100_000 : 5_000;
}

const MAX_MS_PER_INPUT = 1000;
const CHUNK = 10_000;

/**
 * Registers the serial ava tests of one fuzz campaign: one test per chunk of inputs (so ava's inactivity timeout
 * never trips), then a summary test asserting the totals.
 */
export function registerFuzzCampaign(parser: string, seedsOf: (fx: Fixtures) => FuzzSeed[]): void {
  const test = anyTest as TestFn<{ fuzzer: Fuzzer }>;
  const runs = fuzzRuns();
  const seed = Number.parseInt(process.env.FUZZ_SEED ?? '', 16) || hashString(parser);
  const stats: FuzzStats = { runs: 0, accepted: 0, rejected: {}, maxMs: 0, maxLabel: '', totalMs: 0, crashes: [] };

  test.before(async (t) => {
    const fx = await getFixtures();
    t.context.fuzzer = new Fuzzer(
      seedsOf(fx).map((s) => prepareSeed(s)),
      seed
    );
  });

  for (let start = 0; start < runs; start += CHUNK) {
    const count = Math.min(CHUNK, runs - start);
    test.serial(`I3 fuzz ${parser}: inputs ${start + 1}–${start + count}`, async (t) => {
      t.timeout(120_000);
      const before = stats.crashes.length;
      const beforeMax = stats.maxMs;
      await t.context.fuzzer.run(count, stats);
      t.is(stats.crashes.length - before, 0, JSON.stringify(stats.crashes.slice(before, before + 3), null, 2));
      t.true(stats.maxMs < MAX_MS_PER_INPUT, `slowest input ${stats.maxMs.toFixed(1)} ms (${stats.maxLabel})`);
      if (stats.maxMs > beforeMax) t.log(`new slowest input: ${stats.maxMs.toFixed(1)} ms (${stats.maxLabel})`);
    });
  }

  test.serial(`I3 fuzz ${parser}: ${runs} mutated inputs, zero crashes, zero hangs`, (t) => {
    t.log(`seed 0x${seed.toString(16)}, ${stats.runs} inputs in ${(stats.totalMs / 1000).toFixed(1)} s`);
    t.log(`accepted ${stats.accepted}; rejected ${JSON.stringify(stats.rejected)}`);
    t.log(`slowest input ${stats.maxMs.toFixed(1)} ms (${stats.maxLabel})`);
    t.is(stats.runs, runs);
    t.deepEqual(stats.crashes, []);
    t.true(stats.maxMs < MAX_MS_PER_INPUT);
  });
}

/** A small, fast, seedable PRNG (mulberry32). */
export class Prng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform uint32. */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return (z ^ (z >>> 14)) >>> 0;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return n <= 0 ? 0 : this.next() % n;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }

  bytes(n: number): Buffer {
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i++) out[i] = this.next() & 0xff;
    return out;
  }
}

function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (const ch of text) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  return h;
}

/** A TLV found in a seed, for DER-aware mutations. */
interface Tlv {
  readonly start: number;
  readonly lengthAt: number;
  readonly contentStart: number;
  readonly end: number;
  readonly parent: number; // index into the node list, -1 for top level
}

/** A PEM block of a seed: where its base64 lies and what it decodes to. */
interface PemSpan {
  readonly bodyStart: number;
  readonly bodyEnd: number;
  readonly der: Buffer;
  readonly tlvs: Tlv[];
}

interface PreparedSeed {
  readonly label: string;
  readonly bytes: Buffer;
  readonly options: ParseMaterialOptions;
  readonly reseal: FuzzSeed['reseal'];
  readonly tlvs: Tlv[];
  readonly pem: PemSpan[];
}

function prepareSeed(seed: FuzzSeed): PreparedSeed {
  const bytes = readFixture(seed.path);
  const text = bytes.toString('latin1');
  const pem: PemSpan[] = [];
  for (const match of text.matchAll(/-----BEGIN [^-]+-----\r?\n((?:[^-][^\n]*\n)+?)-----END /g)) {
    const bodyStart = (match.index ?? 0) + match[0].indexOf(match[1] as string);
    const body = match[1] as string;
    if (body.includes(':')) continue; // RFC 1421 headers: leave to the text mutators
    const der = Buffer.from(body.replace(/\s/g, ''), 'base64');
    pem.push({ bodyStart, bodyEnd: bodyStart + body.length, der, tlvs: scanTlvs(der) });
  }
  return {
    label: seed.label,
    bytes,
    options: seed.options ?? {},
    reseal: seed.reseal,
    tlvs: pem.length > 0 ? [] : scanTlvs(bytes),
    pem,
  };
}

/** Lenient TLV scan (definite lengths only), descending into constructed values and encapsulated DER. */
function scanTlvs(buf: Buffer): Tlv[] {
  const out: Tlv[] = [];
  const walk = (from: number, to: number, parent: number, depth: number): void => {
    let pos = from;
    while (pos < to && depth < 24 && out.length < 4000) {
      const start = pos;
      const tag = buf[pos++] as number;
      if ((tag & 0x1f) === 0x1f) return;
      const lengthAt = pos;
      const first = buf[pos++];
      if (first === undefined) return;
      let length = first;
      if (first > 0x80) {
        const n = first & 0x7f;
        if (n > 3) return;
        length = 0;
        for (let i = 0; i < n; i++) length = length * 256 + (buf[pos++] ?? 0);
      } else if (first === 0x80) {
        return;
      }
      const contentStart = pos;
      const end = contentStart + length;
      if (end > to) return;
      const index = out.push({ start, lengthAt, contentStart, end, parent }) - 1;
      if (tag & 0x20) walk(contentStart, end, index, depth + 1);
      else if ((tag === 0x04 || tag === 0x03) && buf[contentStart + (tag === 0x03 ? 1 : 0)] === 0x30) {
        walk(contentStart + (tag === 0x03 ? 1 : 0), end, index, depth + 1);
      }
      pos = end;
    }
  };
  walk(0, buf.length, -1, 0);
  return out;
}

const BOUNDARY_BYTES = [
  0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x30, 0x31, 0x7f, 0x80, 0x81, 0x82, 0x83, 0x84, 0xa0, 0xff,
];

/** Generates and runs mutated inputs. */
class Fuzzer {
  private readonly prng: Prng;

  constructor(
    private readonly seeds: PreparedSeed[],
    seed: number
  ) {
    this.prng = new Prng(seed);
  }

  async run(count: number, stats: FuzzStats): Promise<void> {
    for (let i = 0; i < count; i++) {
      const seed = this.prng.pick(this.seeds);
      const applied: string[] = [];
      let input = seed.bytes;
      const steps = 1 + this.prng.int(3);
      for (let s = 0; s < steps; s++) input = this.mutate(seed, input, applied, s === 0);
      if (seed.reseal !== undefined && this.prng.int(2) === 0) {
        const resealed = reseal(seed.reseal, input, seed.options.password ?? '');
        if (resealed !== undefined) {
          input = resealed;
          applied.push('reseal');
        }
      }
      const started = performance.now();
      try {
        await parseMaterial(input, seed.options);
        stats.accepted++;
      } catch (err) {
        if (isCertFleetError(err) && err.code.startsWith('CF_IMPORT_')) {
          stats.rejected[err.code] = (stats.rejected[err.code] ?? 0) + 1;
        } else if (stats.crashes.length < 20) {
          stats.crashes.push({
            label: seed.label,
            mutations: applied.join(' + '),
            error: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
            inputBase64: input.toString('base64'),
          });
        } else {
          stats.crashes.push({
            label: seed.label,
            mutations: applied.join(' + '),
            error: String(err),
            inputBase64: '',
          });
        }
      }
      const elapsed = performance.now() - started;
      stats.runs++;
      stats.totalMs += elapsed;
      if (elapsed > stats.maxMs) {
        stats.maxMs = elapsed;
        stats.maxLabel = `${seed.label}: ${applied.join(' + ')}`;
      }
    }
  }

  /** One mutation. The first step of a PEM seed prefers mutating the DER inside a block. */
  private mutate(seed: PreparedSeed, input: Buffer, applied: string[], first: boolean): Buffer {
    const p = this.prng;
    if (first && seed.pem.length > 0 && p.int(2) === 0) {
      const span = p.pick(seed.pem);
      const der = this.mutateBytes(span.der, span.tlvs, applied);
      const body = (der.toString('base64').match(/.{1,64}/g) ?? ['']).join('\n') + '\n';
      applied.push('(inside PEM)');
      return Buffer.concat([
        input.subarray(0, span.bodyStart),
        Buffer.from(body, 'latin1'),
        input.subarray(span.bodyEnd),
      ]);
    }
    if (seed.pem.length > 0 && p.int(4) === 0) return this.mutateLines(input, applied);
    return this.mutateBytes(input, first ? seed.tlvs : [], applied);
  }

  private mutateBytes(input: Buffer, tlvs: readonly Tlv[], applied: string[]): Buffer {
    const p = this.prng;
    const useDer = tlvs.length > 0 && p.int(2) === 0;
    if (useDer) return this.mutateDer(input, tlvs, applied);
    const out = Buffer.from(input);
    const at = p.int(Math.max(1, input.length));
    switch (p.int(8)) {
      case 0: {
        const flips = 1 + p.int(4);
        for (let i = 0; i < flips; i++) {
          const pos = p.int(out.length);
          if (out.length > 0) out[pos] = (out[pos] as number) ^ (1 << p.int(8));
        }
        applied.push(`flip×${flips}`);
        return out;
      }
      case 1: {
        if (out.length > 0) out[at] = p.int(2) === 0 ? p.pick(BOUNDARY_BYTES) : p.next() & 0xff;
        applied.push(`set@${at}`);
        return out;
      }
      case 2: {
        const n = 1 + p.int(32);
        applied.push(`insert${n}@${at}`);
        return Buffer.concat([input.subarray(0, at), p.bytes(n), input.subarray(at)]);
      }
      case 3: {
        const n = 1 + p.int(64);
        applied.push(`delete${n}@${at}`);
        return Buffer.concat([input.subarray(0, at), input.subarray(at + n)]);
      }
      case 4:
        applied.push(`truncate@${at}`);
        return input.subarray(0, at);
      case 5: {
        const other = p.pick(this.seeds).bytes;
        const cut = p.int(other.length);
        applied.push(`splice@${at}/${cut}`);
        return Buffer.concat([input.subarray(0, at), other.subarray(cut)]);
      }
      case 6: {
        const from = p.int(input.length);
        const n = 1 + p.int(128);
        applied.push(`duplicate${n}@${from}->${at}`);
        return Buffer.concat([input.subarray(0, at), input.subarray(from, from + n), input.subarray(at)]);
      }
      default: {
        const n = 1 + p.int(16);
        for (let i = 0; i < n && out.length > 0; i++) out[(at + i) % out.length] = p.pick(BOUNDARY_BYTES);
        applied.push(`boundary${n}@${at}`);
        return out;
      }
    }
  }

  /** DER-aware mutations on a TLV of the original encoding. */
  private mutateDer(input: Buffer, tlvs: readonly Tlv[], applied: string[]): Buffer {
    const p = this.prng;
    const node = p.pick(tlvs);
    const length = node.end - node.contentStart;
    switch (p.int(6)) {
      case 0: {
        // Length field set to a boundary value, re-encoded in place (the element may grow or shrink).
        const candidates = [
          0,
          1,
          length - 1,
          length + 1,
          length * 2,
          0x7f,
          0x80,
          0xff,
          0x100,
          0xffff,
          0x7fffffff,
          0xffffffff,
        ];
        const value = p.pick(candidates);
        const header =
          value === 0x80 && p.int(2) === 0
            ? Buffer.from([0x80]) // indefinite
            : value < 0x80
              ? Buffer.from([value])
              : encodeLongLength(value);
        applied.push(`der-length(${value})@${node.start}`);
        return Buffer.concat([input.subarray(0, node.lengthAt), header, input.subarray(node.contentStart)]);
      }
      case 1: {
        const out = Buffer.from(input);
        out[node.start] = p.int(2) === 0 ? p.pick(BOUNDARY_BYTES) : p.next() & 0xff;
        applied.push(`der-tag@${node.start}`);
        return out;
      }
      case 2: {
        // Swapping siblings keeps every length valid, so the input gets past the framing checks.
        const siblings = tlvs.filter((t) => t.parent === node.parent && t !== node);
        if (siblings.length === 0) return this.mutateBytes(input, [], applied);
        const other = p.pick(siblings);
        const [a, b] = node.start < other.start ? [node, other] : [other, node];
        applied.push(`der-swap@${a.start},${b.start}`);
        return Buffer.concat([
          input.subarray(0, a.start),
          input.subarray(b.start, b.end),
          input.subarray(a.end, b.start),
          input.subarray(a.start, a.end),
          input.subarray(b.end),
        ]);
      }
      case 3:
        applied.push(`der-drop@${node.start}`);
        return Buffer.concat([input.subarray(0, node.start), input.subarray(node.end)]);
      case 4: {
        const cut = node.contentStart + p.int(Math.max(1, length));
        applied.push(`der-cut@${cut}`);
        return input.subarray(0, cut);
      }
      default: {
        // Content overwritten with boundary bytes, length kept: reaches value decoders (INTEGERs, OIDs, times).
        const out = Buffer.from(input);
        const n = Math.min(length, 1 + p.int(4));
        for (let i = 0; i < n; i++) out[node.contentStart + p.int(Math.max(1, length))] = p.pick(BOUNDARY_BYTES);
        applied.push(`der-content@${node.start}`);
        return out;
      }
    }
  }

  /** Line-level PEM mutations: drop, duplicate or swap lines, damage a boundary, inject junk. */
  private mutateLines(input: Buffer, applied: string[]): Buffer {
    const p = this.prng;
    const lines = input.toString('latin1').split('\n');
    const i = p.int(lines.length);
    switch (p.int(5)) {
      case 0:
        lines.splice(i, 1);
        applied.push(`line-drop@${i}`);
        break;
      case 1:
        lines.splice(i, 0, lines[p.int(lines.length)] as string);
        applied.push(`line-dup@${i}`);
        break;
      case 2: {
        const j = p.int(lines.length);
        [lines[i], lines[j]] = [lines[j] as string, lines[i] as string];
        applied.push(`line-swap@${i},${j}`);
        break;
      }
      case 3:
        lines[i] = (lines[i] as string).replace(/BEGIN|END|-----/, p.pick(['', 'BEGIN', 'END', '----', 'X']));
        applied.push(`line-boundary@${i}`);
        break;
      default:
        lines[i] =
          `${lines[i] as string}${p.pick(['=', '==', '!', ' ', '\r', '\t', 'A', '\u00e9', '-----END X-----'])}`;
        applied.push(`line-junk@${i}`);
    }
    return Buffer.from(lines.join('\n'), 'latin1');
  }
}

function encodeLongLength(value: number): Buffer {
  const bytes: number[] = [];
  for (let v = value; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** Recomputes the integrity check of a (mutated) PKCS#12 or JKS; undefined when the structure no longer allows it. */
function reseal(kind: 'pkcs12' | 'jks', input: Buffer, password: string): Buffer | undefined {
  if (kind === 'jks') {
    if (input.length < 20) return undefined;
    const digest = createHash('sha1')
      .update(Buffer.from(password, 'utf16le').swap16())
      .update('Mighty Aphrodite')
      .update(input.subarray(0, input.length - 20))
      .digest();
    return Buffer.concat([input.subarray(0, input.length - 20), digest]);
  }
  try {
    const pfx = sequenceOf(parseAsn1(input), 'PFX');
    const authSafe = explicitContent(sequenceOf(pfx[1], 'authSafe')[1], 0, 'authSafe');
    if (authSafe.constructed) return undefined;
    const mac = sequenceOf(pfx[2], 'MacData');
    const digestInfo = sequenceOf(mac[0], 'DigestInfo');
    const hash = MAC_HASHES[readAlgorithmIdentifier(digestInfo[0], 'mac').oid];
    const digestNode = digestInfo[1];
    const iterations = mac[2] === undefined ? 1 : Number(readInteger(mac[2], 'iterations'));
    if (hash === undefined || digestNode === undefined || iterations < 1 || iterations > 4096) return undefined;
    const digest = readOctetString(digestNode, 'digest');
    const key = pkcs12Kdf(
      hash,
      pkcs12PasswordBytes(password),
      readOctetString(mac[1], 'salt'),
      3,
      iterations,
      digest.length
    );
    const out = Buffer.from(input);
    createHmac(hash, key).update(contentOf(authSafe)).digest().copy(out, digestNode.contentStart);
    return out;
  } catch {
    return undefined;
  }
}

const MAC_HASHES: Readonly<Record<string, 'sha1' | 'sha256'>> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.1': 'sha256',
};
