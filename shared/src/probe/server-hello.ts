/** The ServerHello as the probe's certificate grab reads it (RFC 8446 §4.1.3, RFC 5246 §7.4.1.3). */
import { EXTENSION } from './client-hello';
import { check } from './grab-failure';

export const TLS13 = 0x0304;
/** Node's names of the versions below TLS 1.3. */
export const PROTOCOLS: Readonly<Record<number, string>> = { 0x0303: 'TLSv1.2', 0x0302: 'TLSv1.1', 0x0301: 'TLSv1' };
/** The ServerHello random that marks a HelloRetryRequest (RFC 8446 §4.1.3). */
export const HELLO_RETRY_RANDOM = Buffer.from(
  'cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c',
  'hex'
);
/** The last bytes of a ServerHello random when a TLS 1.3 server negotiates less (RFC 8446 §4.1.3). */
export const DOWNGRADE_SENTINELS = [Buffer.from('444f574e47524401', 'hex'), Buffer.from('444f574e47524400', 'hex')];
/** The fields of a ServerHello the grab uses (RFC 8446 §4.1.3, RFC 5246 §7.4.1.3). */
export interface ServerHello {
  version: number;
  random: Buffer;
  suite: number;
  keyShare?: { group: number; key: Buffer };
}

export function readServerHello(body: Buffer): ServerHello {
  check(body.length >= 38, 'a truncated ServerHello');
  const legacyVersion = body.readUInt16BE(0);
  const random = body.subarray(2, 34);
  let p = 35 + (body[34] as number);
  check(body.length >= p + 3, 'a truncated ServerHello');
  const hello: ServerHello = { version: legacyVersion, random, suite: body.readUInt16BE(p) };
  p += 3;
  if (body.length < p + 2) return hello;
  const end = p + 2 + body.readUInt16BE(p);
  check(end <= body.length, 'a ServerHello with truncated extensions');
  for (p += 2; p + 4 <= end;) {
    const type = body.readUInt16BE(p);
    const length = body.readUInt16BE(p + 2);
    const data = body.subarray(p + 4, p + 4 + length);
    check(p + 4 + length <= end, 'a ServerHello with a truncated extension');
    if (type === EXTENSION.supportedVersions) {
      check(length === 2, 'a malformed supported_versions extension');
      hello.version = data.readUInt16BE(0);
    } else if (type === EXTENSION.keyShare && length >= 4) {
      const keyLength = data.readUInt16BE(2);
      check(4 + keyLength === length, 'a malformed key_share extension');
      hello.keyShare = { group: data.readUInt16BE(0), key: data.subarray(4) };
    }
    p += 4 + length;
  }
  return hello;
}
