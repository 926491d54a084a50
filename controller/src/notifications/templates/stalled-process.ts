/**
 * `stalled-process` (SPEC O2, N2): an unattended acquisition process stopped and needs the administrator. Says which
 * definition and request, at which step, what the process waits for or which error stopped it, and how to resume
 * (interactively or unattended, once the data is supplied).
 *
 * Data: `definitionName`, `requestId`, `step`, and at least one of `waitingFor` / `error`; optional `stoppedAt`,
 * `definitionId`, `requestKind`, `resume` (one or more steps; a generic hint is used when omitted), `consoleUrl`.
 */
import { z } from 'zod';
import {
  dateField,
  defineTemplate,
  formatTime,
  idField,
  nameField,
  renderBlocks,
  subject,
  urlField,
  type Block,
  type RenderedMail,
} from './layout';

export const stalledProcessData = z
  .object({
    definitionName: nameField,
    definitionId: idField.optional(),
    requestId: idField,
    requestKind: z.enum(['new', 'renewal']).optional(),
    step: z.string().trim().min(1).max(100).describe('the step the process stopped at, e.g. ordered'),
    stoppedAt: dateField.optional(),
    waitingFor: z
      .union([z.string().trim().min(1).max(2000), z.array(z.string().trim().min(1).max(2000)).min(1).max(50)])
      .transform((v) => (Array.isArray(v) ? v : [v]))
      .optional()
      .describe('the missing data the process waits for'),
    error: z
      .object({
        code: z.string().max(100).optional(),
        message: z.string().trim().min(1).max(4000),
        retryable: z.boolean().optional(),
      })
      .strict()
      .optional()
      .describe('the error that stopped the process'),
    resume: z
      .union([z.string().trim().min(1).max(1000), z.array(z.string().trim().min(1).max(1000)).min(1).max(20)])
      .transform((v) => (Array.isArray(v) ? v : [v]))
      .optional()
      .describe('how to resume: one step or several (e.g. the API call)'),
    consoleUrl: urlField.optional(),
  })
  .strict()
  .refine((d) => d.waitingFor !== undefined || d.error !== undefined, {
    message: 'name what the process waits for (waitingFor) or the error that stopped it (error)',
  });

export type StalledProcessData = z.output<typeof stalledProcessData>;

export function renderStalledProcess(data: StalledProcessData): RenderedMail {
  const why = data.error ? 'stopped on an error' : 'is waiting for data';
  const blocks: Block[] = [
    {
      kind: 'p',
      text: `The unattended ${data.requestKind ?? 'acquisition'} process for "${data.definitionName}" ${why} and will not go on by itself.`,
    },
    {
      kind: 'fields',
      rows: [
        ['Definition', data.definitionName],
        ['Definition id', data.definitionId],
        ['Request id', data.requestId],
        ['Step', data.step],
        ['Stopped at', data.stoppedAt ? formatTime(data.stoppedAt) : undefined],
      ],
    },
  ];
  if (data.waitingFor) blocks.push({ kind: 'heading', text: 'Waiting for' }, { kind: 'list', items: data.waitingFor });
  if (data.error) {
    blocks.push(
      { kind: 'heading', text: 'Error' },
      {
        kind: 'fields',
        rows: [
          ['Code', data.error.code],
          ['Message', data.error.message],
          [
            'Retry',
            data.error.retryable === undefined
              ? undefined
              : data.error.retryable
                ? 'may succeed later'
                : 'will give the same answer until the cause is fixed',
          ],
        ],
      }
    );
  }
  blocks.push(
    { kind: 'heading', text: 'How to resume' },
    {
      kind: 'list',
      items: data.resume ?? [
        `Supply the missing data or fix the cause, then open request ${data.requestId} in the console.`,
        'Resume it interactively (confirm each step) or unattended (runs to completion).',
      ],
    }
  );
  if (data.consoleUrl) blocks.push({ kind: 'p', text: `Console: ${data.consoleUrl}` });
  return renderBlocks(subject(`Process stalled: ${data.definitionName} (${data.step})`), blocks);
}

export const stalledProcess = defineTemplate({
  name: 'stalled-process',
  data: stalledProcessData,
  render: renderStalledProcess,
});
