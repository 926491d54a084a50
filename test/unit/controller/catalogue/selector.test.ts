import test from 'ava';
import { requirementsFromSans, selectProducts, shippedCatalogue } from '../../../../controller/src/catalogue/catalogue';

const products = shippedCatalogue.products;

test('R7 the shipped catalogue holds real commercial products with every field', (t) => {
  t.true(products.length >= 20);
  for (const vendor of ['DigiCert', 'Sectigo', 'GlobalSign', "Let's Encrypt"])
    t.true(
      products.some((p) => p.vendor === vendor),
      vendor
    );
  t.is(new Set(products.map((p) => p.id)).size, products.length, 'ids are unique');
  for (const p of products) t.true(p.url.startsWith('https://'), p.id);
  t.true(
    products.every((p) => p.issuerType !== 'acme' || p.validationLevel === 'DV'),
    'ACME products are DV'
  );
});

test('A3 the selector returns exactly the products meeting every requirement; a higher level satisfies a lower one', (t) => {
  const ev = selectProducts(products, { validationLevel: 'EV' });
  t.true(ev.length > 0);
  t.true(ev.every((p) => p.validationLevel === 'EV'));
  const ov = selectProducts(products, { validationLevel: 'OV' });
  t.true(
    ev.every((p) => ov.includes(p)),
    'EV products also meet OV'
  );
  t.false(ov.some((p) => p.validationLevel === 'DV'));
  const wildOv = selectProducts(products, { validationLevel: 'OV', wildcard: true });
  t.true(wildOv.length > 0 && wildOv.every((p) => p.wildcard && p.validationLevel !== 'DV'));
  t.deepEqual(
    selectProducts(products, { validationLevel: 'EV', wildcard: true }),
    [],
    'no EV wildcard exists (CA/B Forum rules)'
  );
  const long = selectProducts(products, { maxValidityDays: 365 });
  t.true(long.every((p) => p.maxValidityDays >= 365));
  const all = selectProducts(products, {});
  t.is(all.length, products.length);
  t.deepEqual(
    all.map((p) => `${p.vendor}/${p.name}`),
    [...all].map((p) => `${p.vendor}/${p.name}`).sort((a, b) => a.localeCompare(b))
  );
});

test('A3 requirements implied by SANs: a wildcard needs wildcard support, several names need multi-domain', (t) => {
  t.deepEqual(requirementsFromSans([{ type: 'dns', value: '*.example.com' }]), { wildcard: true });
  t.deepEqual(
    requirementsFromSans([
      { type: 'dns', value: 'a.example.com' },
      { type: 'dns', value: 'b.example.com' },
    ]),
    { multiDomain: true }
  );
  t.deepEqual(requirementsFromSans([{ type: 'dns', value: 'a.example.com' }]), {});
});
