/**
 * CSV of discovery reports (SPEC S2): RFC 4180 quoting and spreadsheet-formula safety.
 */
import test from 'ava';
import { csvCell, csvTable } from '@certfleet/shared';

test('S2 CSV cells: RFC 4180 quoting, doubled quotes, CRLF lines with a header', (t) => {
  t.is(csvCell('plain'), 'plain');
  t.is(csvCell('a,b'), '"a,b"');
  t.is(csvCell('say "hi"'), '"say ""hi"""');
  t.is(csvCell('two\nlines'), '"two\nlines"');
  t.is(csvCell(null), '');
  t.is(csvCell(undefined), '');
  t.is(csvCell(['x.test', 'y.test']), 'x.test; y.test');
  t.is(csvTable(['host', 'port'], [{ host: 'a', port: 443 }, { host: 'b,c' }]), 'host,port\r\na,443\r\n"b,c",\r\n');
});

test('S2 CSV cells starting with = + - @ (or TAB/CR) are prefixed with a quote; computed numbers are not', (t) => {
  t.is(csvCell('=HYPERLINK("http://x","y")'), `"'=HYPERLINK(""http://x"",""y"")"`);
  t.is(csvCell('+1'), `"'+1"`);
  t.is(csvCell('-2+3'), `"'-2+3"`);
  t.is(csvCell('@SUM(A1)'), `"'@SUM(A1)"`);
  t.is(csvCell('\tx'), `"'\tx"`);
  t.is(csvCell(['=1', 'b']), `"'=1; b"`);
  t.is(csvCell(-5), '-5', 'days to expiry of an expired certificate');
  t.is(csvCell(false), 'false');
  t.is(csvCell('a=b'), 'a=b');
});
