/**
 * `test-mail` (SPEC N1): the "send test e-mail" message. Proves the SMTP settings work end to end, including UTF-8
 * (the body carries a Japanese line, as the product's users read Japanese).
 *
 * Data: `requestedBy` (the actor who asked), `at` (when), optional `controllerUrl`.
 */
import { z } from 'zod';
import {
  dateField,
  defineTemplate,
  formatTime,
  nameField,
  renderBlocks,
  subject,
  urlField,
  type RenderedMail,
} from './layout';

export const testMailData = z
  .object({
    requestedBy: nameField.describe('who asked for the test mail, e.g. user:admin'),
    at: dateField.describe('when the test was requested'),
    controllerUrl: urlField.optional().describe('the console address, shown as a link'),
  })
  .strict();

export type TestMailData = z.output<typeof testMailData>;

export function renderTestMail(data: TestMailData): RenderedMail {
  return renderBlocks(subject('Test e-mail'), [
    { kind: 'p', text: 'This is a test e-mail from CertFleet. Your SMTP settings work.' },
    { kind: 'p', text: 'これは CertFleet からのテストメールです。SMTP 設定は正しく動作しています。' },
    {
      kind: 'fields',
      rows: [
        ['Requested by', data.requestedBy],
        ['Requested at', formatTime(data.at)],
        ['Console', data.controllerUrl],
      ],
    },
  ]);
}

export const testMail = defineTemplate({ name: 'test-mail', data: testMailData, render: renderTestMail });
