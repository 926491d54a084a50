/** The Certificate handshake message (RFC 8446 §4.4.2, RFC 5246 §7.4.2), as the grab and the tap read it. */

function ensure(ok: boolean): void {
  if (!ok) throw new Error('a malformed Certificate message');
}

/**
 * The DER certificates of a Certificate message body (copies), in the order sent. TLS ≤ 1.2: certificate_list;
 * TLS 1.3: request context, then entries with their extensions (RFC 8446 §4.4.2).
 * @throws Error when the body does not parse
 */
export function readCertificateList(body: Buffer, tls13: boolean): Buffer[] {
  let p = 0;
  if (tls13) {
    ensure(body.length >= 1);
    p += 1 + (body[0] as number);
  }
  ensure(body.length >= p + 3);
  const end = p + 3 + body.readUIntBE(p, 3);
  ensure(end <= body.length);
  const out: Buffer[] = [];
  for (p += 3; p < end;) {
    ensure(p + 3 <= end);
    const length = body.readUIntBE(p, 3);
    ensure(length > 0 && p + 3 + length <= end);
    out.push(Buffer.from(body.subarray(p + 3, p + 3 + length)));
    p += 3 + length;
    if (tls13) {
      ensure(p + 2 <= end);
      p += 2 + body.readUInt16BE(p);
    }
  }
  ensure(p === end);
  return out;
}
