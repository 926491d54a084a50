/**
 * `expiry-warning` (SPEC N2, A5, M3): certificates that expire soon, soonest first, with days left.
 *
 * Data: `certificates` (one or more: `definitionName`, `notAfter`, `daysLeft`, optional `commonName`,
 * `operationMode`, `renewal` status text), optional `thresholdDays`, `consoleUrl`.
 */
import { z } from 'zod';
import {
  dateField,
  defineTemplate,
  formatDay,
  formatDaysLeft,
  nameField,
  plural,
  renderBlocks,
  subject,
  urlField,
  type Block,
  type RenderedMail,
} from './layout';

export const expiryWarningData = z
  .object({
    certificates: z
      .array(
        z
          .object({
            definitionName: nameField,
            commonName: z.string().max(300).optional(),
            notAfter: dateField,
            daysLeft: z.number().int(),
            operationMode: z.enum(['managed', 'monitored']).optional(),
            renewal: z.string().max(300).optional().describe('renewal state, e.g. "renewal running" or "overdue"'),
          })
          .strict()
      )
      .min(1)
      .max(10_000),
    thresholdDays: z.number().int().min(0).optional(),
    consoleUrl: urlField.optional(),
  })
  .strict();

export type ExpiryWarningData = z.output<typeof expiryWarningData>;

export function renderExpiryWarning(data: ExpiryWarningData): RenderedMail {
  const certs = [...data.certificates].sort((a, b) => a.daysLeft - b.daysLeft);
  const first = certs[0]!;
  const expired = certs.filter((c) => c.daysLeft < 0).length;
  const head =
    certs.length === 1
      ? `${first.definitionName} ${first.daysLeft < 0 ? 'has expired' : `expires in ${formatDaysLeft(first.daysLeft)}`}`
      : `${plural(certs.length, 'certificate')} expire soon${expired ? ` (${expired} expired)` : ''}`;
  const blocks: Block[] = [
    {
      kind: 'p',
      text:
        data.thresholdDays === undefined
          ? 'These certificates expire soon:'
          : `These certificates expire within ${plural(data.thresholdDays, 'day')}:`,
    },
    {
      kind: 'table',
      head: ['Definition', 'Common name', 'Expires', 'Days left', 'Mode', 'Renewal'],
      rows: certs.map((c) => [
        c.definitionName,
        c.commonName ?? '',
        formatDay(c.notAfter),
        formatDaysLeft(c.daysLeft),
        c.operationMode === 'monitored' ? 'monitored only' : c.operationMode === 'managed' ? 'managed' : '',
        c.renewal ?? '',
      ]),
      empty: 'None.',
    },
    {
      kind: 'p',
      text: 'Managed definitions renew by themselves when unattended; the others need a renewal started in the console.',
    },
  ];
  if (data.consoleUrl) blocks.push({ kind: 'p', text: `Console: ${data.consoleUrl}` });
  return renderBlocks(subject(`Expiry warning: ${head}`), blocks);
}

export const expiryWarning = defineTemplate({
  name: 'expiry-warning',
  data: expiryWarningData,
  render: renderExpiryWarning,
});
