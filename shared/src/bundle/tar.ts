/**
 * A minimal POSIX ustar writer/reader for bundle payloads. Only regular files; no pax/GNU extensions, links,
 * devices or directories. The reader is strict: checksums, octal fields, sizes and padding are validated.
 */
const BLOCK = 512;

export interface TarEntry {
  path: string;
  data: Buffer;
}

export class TarFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TarFormatError';
  }
}

function writeString(buf: Buffer, offset: number, length: number, value: string): void {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length > length) throw new TarFormatError(`field too long: ${value}`);
  bytes.copy(buf, offset);
}

function writeOctal(buf: Buffer, offset: number, length: number, value: number): void {
  writeString(buf, offset, length, value.toString(8).padStart(length - 1, '0') + '\0');
}

function splitName(path: string): { name: string; prefix: string } {
  if (Buffer.byteLength(path) <= 100) return { name: path, prefix: '' };
  for (let i = path.indexOf('/'); i !== -1; i = path.indexOf('/', i + 1)) {
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100) return { name, prefix };
  }
  throw new TarFormatError(`path does not fit a ustar header: ${path}`);
}

function header(path: string, size: number, mode: number): Buffer {
  const h = Buffer.alloc(BLOCK);
  const { name, prefix } = splitName(path);
  writeString(h, 0, 100, name);
  writeOctal(h, 100, 8, mode);
  writeOctal(h, 108, 8, 0);
  writeOctal(h, 116, 8, 0);
  writeOctal(h, 124, 12, size);
  writeOctal(h, 136, 12, 0);
  h.fill(0x20, 148, 156);
  h[156] = 0x30; // '0' regular file
  writeString(h, 257, 6, 'ustar\0');
  writeString(h, 263, 2, '00');
  writeString(h, 345, 155, prefix);
  let sum = 0;
  for (const b of h) sum += b;
  writeString(h, 148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
  return h;
}

/** Writes entries in the given order; every entry gets mode 0600, uid/gid 0 and mtime 0 (deterministic output). */
export function writeTar(entries: readonly TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    parts.push(header(e.path, e.data.length, 0o600), e.data);
    const pad = (BLOCK - (e.data.length % BLOCK)) % BLOCK;
    if (pad) parts.push(Buffer.alloc(pad));
  }
  parts.push(Buffer.alloc(BLOCK * 2));
  return Buffer.concat(parts);
}

function readString(buf: Buffer, offset: number, length: number): string {
  const field = buf.subarray(offset, offset + length);
  const nul = field.indexOf(0);
  return field.subarray(0, nul === -1 ? length : nul).toString('utf8');
}

function readOctal(buf: Buffer, offset: number, length: number, what: string): number {
  const text = buf
    .subarray(offset, offset + length)
    .toString('latin1')
    .replace(/[\0 ]+$/, '')
    .replace(/^ +/, '');
  if (!/^[0-7]{1,11}$/.test(text)) throw new TarFormatError(`bad ${what} field`);
  return parseInt(text, 8);
}

export interface ReadTarLimits {
  maxEntries: number;
  maxTotalBytes: number;
}

/** Parses a ustar archive of regular files only; throws {@link TarFormatError} on anything else. */
export function readTar(tar: Buffer, limits: ReadTarLimits): TarEntry[] {
  if (tar.length % BLOCK !== 0) throw new TarFormatError('length is not a multiple of 512');
  const entries: TarEntry[] = [];
  const seen = new Set<string>();
  let offset = 0;
  let total = 0;
  for (;;) {
    if (offset + BLOCK > tar.length) throw new TarFormatError('missing end-of-archive marker');
    const h = tar.subarray(offset, offset + BLOCK);
    if (h.every((b) => b === 0)) {
      const second = tar.subarray(offset + BLOCK, offset + 2 * BLOCK);
      if (second.length !== BLOCK || !second.every((b) => b === 0)) throw new TarFormatError('bad end-of-archive');
      if (!tar.subarray(offset + 2 * BLOCK).every((b) => b === 0)) throw new TarFormatError('data after end');
      return entries;
    }
    const expected = readOctal(h, 148, 8, 'checksum');
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (h[i] ?? 0);
    if (sum !== expected) throw new TarFormatError('header checksum mismatch');
    if (readString(h, 257, 6) !== 'ustar') throw new TarFormatError('not a ustar header');
    const type = h[156];
    if (type !== 0x30 && type !== 0) throw new TarFormatError(`entry type ${String.fromCharCode(type ?? 0)} refused`);
    const prefix = readString(h, 345, 155);
    const name = readString(h, 0, 100);
    const path = prefix ? `${prefix}/${name}` : name;
    const size = readOctal(h, 124, 12, 'size');
    if (entries.length >= limits.maxEntries) throw new TarFormatError('too many entries');
    total += size;
    if (total > limits.maxTotalBytes) throw new TarFormatError('entries too large');
    const start = offset + BLOCK;
    const end = start + size;
    if (end > tar.length) throw new TarFormatError('truncated entry');
    if (seen.has(path)) throw new TarFormatError(`duplicate entry ${path}`);
    seen.add(path);
    entries.push({ path, data: Buffer.from(tar.subarray(start, end)) });
    offset = start + Math.ceil(size / BLOCK) * BLOCK;
  }
}
