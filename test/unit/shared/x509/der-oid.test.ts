import test from 'ava';
import { DecodeError } from '@certfleet/shared';
import { parseAsn1, readOid } from '../../../../shared/src/x509/der';

const oid = (hex: string) => parseAsn1(Buffer.from(hex, 'hex'));

test('I1 M6 readOid decodes dotted forms, the same again from its cache', (t) => {
  const cases: Array<[string, string]> = [
    ['06032a0304', '1.2.3.4'],
    ['06082a8648ce3d030107', '1.2.840.10045.3.1.7'],
    ['0603551d11', '2.5.29.17'],
    ['060488378952', '2.999.1234'], // first arc 2 with a second arc ≥ 40
    ['06092a864886f70d01010b', '1.2.840.113549.1.1.11'],
  ];
  for (let round = 0; round < 2; round++) {
    for (const [hex, dotted] of cases) t.is(readOid(oid(hex), 'oid'), dotted, `${hex} (round ${round})`);
  }
});

test('I1 readOid still refuses malformed encodings after well-formed ones were cached', (t) => {
  readOid(oid('06032a0304'), 'oid');
  for (const hex of ['0603 2a0380', '0602 2a80', '0600']) {
    const err = t.throws(() => readOid(oid(hex.replace(/ /g, '')), 'oid'));
    t.true(err instanceof DecodeError, `${hex}: ${String(err)}`);
  }
});
