/** ASN.1 UTCTime / GeneralizedTime decoding (RFC 5280 §4.1.2.5), strict about the digits, lenient about seconds. */
import { malformed } from './decode-error';
import { type Asn1Node, TagClass, UniversalTag, contentOf } from './der';

const UTC_TIME = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})?Z$/;
const GENERALIZED_TIME = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})?(?:[.,](\d{1,9}))?Z$/;

/** Decodes a `Time` (UTCTime or GeneralizedTime, UTC only). */
export function readTime(node: Asn1Node | undefined, what: string): Date {
  if (node === undefined || node.tagClass !== TagClass.universal || node.constructed) {
    throw malformed(`${what}: expected a time`);
  }
  const text = contentOf(node).toString('latin1');
  let year: number;
  let rest: RegExpExecArray | null;
  if (node.tagNumber === UniversalTag.utcTime) {
    rest = UTC_TIME.exec(text);
    if (rest === null) throw malformed(`${what}: bad UTCTime`);
    const yy = Number(rest[1]);
    year = yy >= 50 ? 1900 + yy : 2000 + yy; // RFC 5280: YY >= 50 means 19YY
  } else if (node.tagNumber === UniversalTag.generalizedTime) {
    rest = GENERALIZED_TIME.exec(text);
    if (rest === null) throw malformed(`${what}: bad GeneralizedTime`);
    year = Number(rest[1]);
  } else {
    throw malformed(`${what}: expected UTCTime or GeneralizedTime`);
  }
  const [month, day, hour, minute] = [rest[2], rest[3], rest[4], rest[5]].map(Number) as [
    number,
    number,
    number,
    number,
  ];
  const second = Number(rest[6] ?? '0');
  const millis = node.tagNumber === UniversalTag.generalizedTime ? Math.floor(Number(`0.${rest[7] ?? '0'}`) * 1000) : 0;
  const date = new Date(Date.UTC(year, month - 1, day, hour, minute, second, millis));
  // Date.UTC silently rolls over (month 13, Feb 30); reject instead.
  if (
    date.getUTCFullYear() !== year ||
    date.getUTCMonth() !== month - 1 ||
    date.getUTCDate() !== day ||
    date.getUTCHours() !== hour ||
    date.getUTCMinutes() !== minute ||
    date.getUTCSeconds() !== second
  ) {
    throw malformed(`${what}: time out of range`);
  }
  return date;
}
