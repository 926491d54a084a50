/**
 * The ClientHello of the probe's certificate grab (certificate-grab.ts): the offer Node 20's TLS client makes with
 * the probe's shared context (OpenSSL 3.0, `minVersion: 'TLSv1'`, `DEFAULT:@SECLEVEL=0`) — the same cipher suites,
 * groups, signature algorithms, versions and extensions in the same order — so that a server answers the grab as it
 * answers Node's client. Only the random, the session id and the X25519 key share differ per connection, as they do
 * for Node's. `test/integration/probe/certificate-grab.test.ts` compares this offer with Node's own ClientHello.
 */

/** Cipher suites with their IANA names (Node's `getCipher().standardName`), in the order offered. */
export const OFFERED_SUITES: ReadonlyArray<readonly [number, string]> = [
  [0x1302, 'TLS_AES_256_GCM_SHA384'],
  [0x1303, 'TLS_CHACHA20_POLY1305_SHA256'],
  [0x1301, 'TLS_AES_128_GCM_SHA256'],
  [0xc02c, 'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384'],
  [0xc030, 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384'],
  [0x009f, 'TLS_DHE_RSA_WITH_AES_256_GCM_SHA384'],
  [0xcca9, 'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256'],
  [0xcca8, 'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256'],
  [0xccaa, 'TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256'],
  [0xc02b, 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256'],
  [0xc02f, 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256'],
  [0x009e, 'TLS_DHE_RSA_WITH_AES_128_GCM_SHA256'],
  [0xc024, 'TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384'],
  [0xc028, 'TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384'],
  [0x006b, 'TLS_DHE_RSA_WITH_AES_256_CBC_SHA256'],
  [0xc023, 'TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256'],
  [0xc027, 'TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256'],
  [0x0067, 'TLS_DHE_RSA_WITH_AES_128_CBC_SHA256'],
  [0xc00a, 'TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA'],
  [0xc014, 'TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA'],
  [0x0039, 'TLS_DHE_RSA_WITH_AES_256_CBC_SHA'],
  [0xc009, 'TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA'],
  [0xc013, 'TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA'],
  [0x0033, 'TLS_DHE_RSA_WITH_AES_128_CBC_SHA'],
  [0x009d, 'TLS_RSA_WITH_AES_256_GCM_SHA384'],
  [0x009c, 'TLS_RSA_WITH_AES_128_GCM_SHA256'],
  [0x003d, 'TLS_RSA_WITH_AES_256_CBC_SHA256'],
  [0x003c, 'TLS_RSA_WITH_AES_128_CBC_SHA256'],
  [0x0035, 'TLS_RSA_WITH_AES_256_CBC_SHA'],
  [0x002f, 'TLS_RSA_WITH_AES_128_CBC_SHA'],
];
/** The renegotiation SCSV OpenSSL appends (RFC 5746 §3.3): never a server's choice. */
const RENEGOTIATION_SCSV = 0x00ff;

/** supported_groups: x25519, secp256r1, x448, secp521r1, secp384r1, ffdhe2048…8192. */
export const OFFERED_GROUPS = [0x001d, 0x0017, 0x001e, 0x0019, 0x0018, 0x0100, 0x0101, 0x0102, 0x0103, 0x0104];
/** signature_algorithms, as OpenSSL 3.0 orders them (TLS 1.3 schemes first, then the TLS 1.2 pairs). */
export const OFFERED_SIGNATURE_SCHEMES = [
  0x0403, 0x0503, 0x0603, 0x0807, 0x0808, 0x0809, 0x080a, 0x080b, 0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601,
  0x0303, 0x0203, 0x0301, 0x0201, 0x0302, 0x0202, 0x0402, 0x0502, 0x0602,
];
/** supported_versions: TLS 1.3, 1.2, 1.1, 1.0. */
export const OFFERED_VERSIONS = [0x0304, 0x0303, 0x0302, 0x0301];
/** The one group a key share is sent for. */
export const KEY_SHARE_GROUP = 0x001d;

export const EXTENSION = {
  serverName: 0,
  supportedGroups: 10,
  ecPointFormats: 11,
  signatureAlgorithms: 13,
  encryptThenMac: 22,
  extendedMasterSecret: 23,
  sessionTicket: 35,
  supportedVersions: 43,
  pskKeyExchangeModes: 45,
  keyShare: 51,
} as const;

const u16 = (n: number): Buffer => Buffer.from([n >> 8, n & 0xff]);
const list16 = (values: readonly number[]): Buffer => Buffer.concat(values.map(u16));
/** A vector with a two-byte length. */
const vector16 = (body: Buffer): Buffer => Buffer.concat([u16(body.length), body]);
const extension = (type: number, body: Buffer): Buffer => Buffer.concat([u16(type), vector16(body)]);

const SUITES = vector16(list16([...OFFERED_SUITES.map(([code]) => code), RENEGOTIATION_SCSV]));
/** The extensions between server_name and key_share, the same for every connection. */
const FIXED_EXTENSIONS = Buffer.concat([
  extension(EXTENSION.ecPointFormats, Buffer.from([3, 0, 1, 2])), // uncompressed, ansiX962 prime and char2
  extension(EXTENSION.supportedGroups, vector16(list16(OFFERED_GROUPS))),
  extension(EXTENSION.sessionTicket, Buffer.alloc(0)),
  extension(EXTENSION.encryptThenMac, Buffer.alloc(0)),
  extension(EXTENSION.extendedMasterSecret, Buffer.alloc(0)),
  extension(EXTENSION.signatureAlgorithms, vector16(list16(OFFERED_SIGNATURE_SCHEMES))),
  extension(
    EXTENSION.supportedVersions,
    Buffer.concat([Buffer.from([OFFERED_VERSIONS.length * 2]), list16(OFFERED_VERSIONS)])
  ),
  extension(EXTENSION.pskKeyExchangeModes, Buffer.from([1, 1])), // psk_dhe_ke
]);

/** The IANA name of a TLS ≤ 1.2 or 1.3 suite the grab offers, undefined for any other code. */
export function offeredSuiteName(code: number): string | undefined {
  return SUITE_NAMES.get(code);
}
const SUITE_NAMES = new Map(OFFERED_SUITES);

/**
 * The ClientHello handshake message (type, length, body) for `servername` (none when undefined) with an X25519 key
 * share, and the record that carries it.
 * @param random 64 random bytes: the client random, then the legacy session id (as OpenSSL sends, RFC 8446 §D.4)
 */
export function clientHello(
  servername: string | undefined,
  keyShare: Buffer,
  random: Buffer
): { message: Buffer; record: Buffer } {
  const sni = servername
    ? [
        extension(
          EXTENSION.serverName,
          vector16(Buffer.concat([Buffer.from([0]), vector16(Buffer.from(servername, 'utf8'))]))
        ),
      ]
    : [];
  const share = extension(EXTENSION.keyShare, vector16(Buffer.concat([u16(KEY_SHARE_GROUP), vector16(keyShare)])));
  const body = Buffer.concat([
    Buffer.from([3, 3]), // legacy_version TLS 1.2
    random.subarray(0, 32),
    Buffer.from([32]),
    random.subarray(32, 64),
    SUITES,
    Buffer.from([1, 0]), // null compression only
    vector16(Buffer.concat([...sni, FIXED_EXTENSIONS, share])),
  ]);
  const message = Buffer.concat([
    Buffer.from([1, body.length >> 16, (body.length >> 8) & 0xff, body.length & 0xff]),
    body,
  ]);
  // legacy_record_version 0x0301 for the first ClientHello (RFC 8446 §5.1)
  return { message, record: Buffer.concat([Buffer.from([22, 3, 1]), u16(message.length), message]) };
}
