/**
 * `deploy-check-result` (SPEC D6): the result of a deploy check, mailed to the server administrator: whether the
 * endpoint serves the current certificate (SHA-256 match) and all needed intermediates.
 *
 * Data: `definitionName`, `endpoint` (host:port), `checkedAt`, `ok`, `expectedSha256`; optional `servedSha256`,
 * `missingIntermediates` (subjects), `problems` (one line each), `checkedBy` (controller or agent name),
 * `consoleUrl`.
 */
import { z } from 'zod';
import {
  dateField,
  defineTemplate,
  formatTime,
  nameField,
  renderBlocks,
  sha256Field,
  subject,
  urlField,
  type Block,
  type RenderedMail,
} from './layout';

export const deployCheckResultData = z
  .object({
    definitionName: nameField,
    endpoint: z.string().trim().min(1).max(300).describe('host:port that was probed'),
    checkedAt: dateField,
    checkedBy: z.string().max(300).optional(),
    ok: z.boolean(),
    expectedSha256: sha256Field,
    servedSha256: sha256Field.optional(),
    missingIntermediates: z.array(z.string().max(1000)).max(20).default([]),
    problems: z.array(z.string().min(1).max(2000)).max(50).default([]),
    consoleUrl: urlField.optional(),
  })
  .strict();

export type DeployCheckResultData = z.output<typeof deployCheckResultData>;

function sameFingerprint(a: string, b: string): boolean {
  const norm = (s: string): string => s.replace(/:/g, '').toLowerCase();
  return norm(a) === norm(b);
}

export function renderDeployCheckResult(data: DeployCheckResultData): RenderedMail {
  const match = data.servedSha256 === undefined ? undefined : sameFingerprint(data.servedSha256, data.expectedSha256);
  const blocks: Block[] = [
    {
      kind: 'p',
      text: data.ok
        ? `${data.endpoint} serves the current certificate of "${data.definitionName}" with its intermediates. Deployment is complete.`
        : `The deploy check of "${data.definitionName}" at ${data.endpoint} FAILED.`,
    },
    {
      kind: 'fields',
      rows: [
        ['Definition', data.definitionName],
        ['Endpoint', data.endpoint],
        ['Checked at', formatTime(data.checkedAt)],
        ['Checked by', data.checkedBy],
        ['Result', data.ok ? 'OK' : 'FAILED'],
        ['Expected SHA-256', data.expectedSha256],
        ['Served SHA-256', data.servedSha256],
        ['Fingerprint', match === undefined ? undefined : match ? 'matches' : 'DIFFERS'],
      ],
    },
  ];
  if (data.missingIntermediates.length) {
    blocks.push({ kind: 'heading', text: 'Missing intermediates' }, { kind: 'list', items: data.missingIntermediates });
  }
  if (data.problems.length) blocks.push({ kind: 'heading', text: 'Problems' }, { kind: 'list', items: data.problems });
  if (data.consoleUrl) blocks.push({ kind: 'p', text: `Console: ${data.consoleUrl}` });
  return renderBlocks(
    subject(`Deploy check ${data.ok ? 'OK' : 'FAILED'}: ${data.definitionName} at ${data.endpoint}`),
    blocks
  );
}

export const deployCheckResult = defineTemplate({
  name: 'deploy-check-result',
  data: deployCheckResultData,
  render: renderDeployCheckResult,
});
