import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { ERROR_CODES } from '@certfleet/shared';
import { httpStatusByCode } from '../../controller/src/http/error-handler';

test('X3 docs/errors.md documents every error code with its HTTP status', (t) => {
  const doc = fs.readFileSync(path.resolve(__dirname, '../../docs/errors.md'), 'utf8');
  for (const code of ERROR_CODES) {
    // Tolerates Prettier's column padding in the Markdown table.
    const row = new RegExp(`^\\|\\s*\`${code}\`\\s*\\|\\s*(\\d{3})\\s*\\|`, 'm').exec(doc);
    t.truthy(row, `${code} is documented`);
    t.is(Number(row?.[1]), httpStatusByCode[code], `${code} status matches the error handler`);
  }
});
