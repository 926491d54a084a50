/**
 * `daily-digest` (SPEC M5): one mail a day listing everything that needs the administrator, in five sections —
 * failing checks, expiring certificates, stalled processes, overdue renewals, agents not seen. Every section may be
 * empty (and is then shown as "None."); a digest with nothing in it still says so, so its absence means the job did
 * not run.
 *
 * Data: `date` plus the five arrays (each defaults to []), optional `consoleUrl`.
 */
import { z } from 'zod';
import {
  dateField,
  defineTemplate,
  formatDay,
  formatDaysLeft,
  formatTime,
  idField,
  nameField,
  plural,
  renderBlocks,
  subject,
  urlField,
  type Block,
  type RenderedMail,
} from './layout';

const text = (max = 2000) => z.string().max(max);

export const dailyDigestData = z
  .object({
    date: dateField.describe('the day the digest covers'),
    failingChecks: z
      .array(
        z
          .object({
            definitionName: nameField,
            endpoint: text(300),
            reason: text(),
            since: dateField.optional(),
          })
          .strict()
      )
      .default([]),
    expiringCertificates: z
      .array(
        z
          .object({
            definitionName: nameField,
            commonName: text(300).optional(),
            notAfter: dateField,
            daysLeft: z.number().int(),
          })
          .strict()
      )
      .default([]),
    stalledProcesses: z
      .array(
        z
          .object({
            definitionName: nameField,
            requestId: idField,
            step: text(100),
            reason: text(),
            since: dateField.optional(),
          })
          .strict()
      )
      .default([]),
    overdueRenewals: z
      .array(
        z
          .object({
            definitionName: nameField,
            notAfter: dateField,
            daysLeft: z.number().int(),
          })
          .strict()
      )
      .default([]),
    agentsNotSeen: z
      .array(
        z
          .object({
            agentName: nameField,
            lastSeenAt: dateField.nullable(),
          })
          .strict()
      )
      .default([]),
    consoleUrl: urlField.optional(),
  })
  .strict();

export type DailyDigestData = z.output<typeof dailyDigestData>;

export function renderDailyDigest(data: DailyDigestData): RenderedMail {
  const sections: Array<{ title: string; table: Extract<Block, { kind: 'table' }> }> = [
    {
      title: 'Failing checks',
      table: {
        kind: 'table',
        head: ['Definition', 'Endpoint', 'Reason', 'Since'],
        rows: data.failingChecks.map((c) => [
          c.definitionName,
          c.endpoint,
          c.reason,
          c.since ? formatTime(c.since) : '',
        ]),
        empty: 'None.',
      },
    },
    {
      title: 'Expiring certificates',
      table: {
        kind: 'table',
        head: ['Definition', 'Common name', 'Expires', 'Days left'],
        rows: [...data.expiringCertificates]
          .sort((a, b) => a.daysLeft - b.daysLeft)
          .map((c) => [c.definitionName, c.commonName ?? '', formatDay(c.notAfter), formatDaysLeft(c.daysLeft)]),
        empty: 'None.',
      },
    },
    {
      title: 'Stalled processes',
      table: {
        kind: 'table',
        head: ['Definition', 'Request', 'Step', 'Reason', 'Since'],
        rows: data.stalledProcesses.map((p) => [
          p.definitionName,
          p.requestId,
          p.step,
          p.reason,
          p.since ? formatTime(p.since) : '',
        ]),
        empty: 'None.',
      },
    },
    {
      title: 'Overdue renewals',
      table: {
        kind: 'table',
        head: ['Definition', 'Expires', 'Days left'],
        rows: [...data.overdueRenewals]
          .sort((a, b) => a.daysLeft - b.daysLeft)
          .map((r) => [r.definitionName, formatDay(r.notAfter), formatDaysLeft(r.daysLeft)]),
        empty: 'None.',
      },
    },
    {
      title: 'Agents not seen',
      table: {
        kind: 'table',
        head: ['Agent', 'Last seen'],
        rows: data.agentsNotSeen.map((a) => [a.agentName, a.lastSeenAt ? formatTime(a.lastSeenAt) : 'never']),
        empty: 'None.',
      },
    },
  ];
  const total = sections.reduce((n, s) => n + s.table.rows.length, 0);
  const blocks: Block[] = [
    {
      kind: 'p',
      text: total
        ? `${plural(total, 'item')} need${total === 1 ? 's' : ''} your attention (${sections
            .filter((s) => s.table.rows.length)
            .map((s) => `${s.title.toLowerCase()}: ${s.table.rows.length}`)
            .join(', ')}).`
        : 'Nothing needs your attention today.',
    },
  ];
  for (const s of sections) {
    blocks.push({ kind: 'heading', text: `${s.title} (${s.table.rows.length})` }, s.table);
  }
  if (data.consoleUrl) blocks.push({ kind: 'p', text: `Console: ${data.consoleUrl}` });
  return renderBlocks(
    subject(
      `Daily digest ${formatDay(data.date)}: ${total ? `${plural(total, 'item')} need attention` : 'nothing needs attention'}`
    ),
    blocks
  );
}

export const dailyDigest = defineTemplate({ name: 'daily-digest', data: dailyDigestData, render: renderDailyDigest });
