import test from 'ava';
import { CertFleetError, isCertFleetError } from '@certfleet/shared';

test('CertFleetError carries a stable code and serialises to the CLI/API shape', (t) => {
  const err = new CertFleetError('CF_IMPORT_CORRUPT', 'import(pem): truncated data', { details: { offset: 12 } });
  t.true(isCertFleetError(err));
  t.deepEqual(err.toJSON(), {
    error: { code: 'CF_IMPORT_CORRUPT', message: 'import(pem): truncated data', details: { offset: 12 } },
  });
  t.false(isCertFleetError(new Error('x')));
});
