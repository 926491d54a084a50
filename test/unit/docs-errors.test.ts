import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { ERROR_CODES } from '@certfleet/shared';
import { httpStatusByCode } from '../../controller/src/http/error-handler';

test('X3 docs/errors.md documents every error code with its HTTP status', (t) => {
  const doc = fs.readFileSync(path.resolve(__dirname, '../../docs/errors.md'), 'utf8');
  for (const code of ERROR_CODES) {
    const row = new RegExp(`^\\| \`${code}\` \\| (\\d{3}) \\|`, 'm').exec(doc);
    t.truthy(row, `${code} is documented`);
    t.is(Number(row?.[1]), httpStatusByCode[code], `${code} status matches the error handler`);
  }
});
