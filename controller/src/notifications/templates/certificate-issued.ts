/**
 * `certificate-issued` (SPEC N2, A4): a new certificate was received, verified and made current for a definition.
 *
 * Data: `definitionName`, `issuer`, `notAfter`, `sha256`; optional `commonName` and/or `subject` (DN), `serial`,
 * `notBefore`, `sans`, `sha1`, `requestId`, `requestKind`, `nextStep` (e.g. "deployment to web1 pending"),
 * `consoleUrl`.
 */
import { z } from 'zod';
import {
  dateField,
  defineTemplate,
  formatTime,
  idField,
  nameField,
  renderBlocks,
  sha256Field,
  subject,
  urlField,
  type Block,
  type RenderedMail,
} from './layout';

export const certificateIssuedData = z
  .object({
    definitionName: nameField,
    commonName: z.string().max(300).optional(),
    subject: z.string().max(2000).optional().describe('subject DN, when the caller has no separate common name'),
    sans: z.array(z.string().max(300)).max(1000).default([]),
    serial: z.string().min(1).max(200).optional(),
    issuer: z.string().min(1).max(1000),
    notBefore: dateField.optional(),
    notAfter: dateField,
    sha256: sha256Field,
    sha1: z
      .string()
      .regex(/^[0-9A-Fa-f:]{40,59}$/)
      .optional(),
    requestId: idField.optional(),
    requestKind: z.enum(['new', 'renewal']).optional(),
    nextStep: z.string().max(1000).optional(),
    consoleUrl: urlField.optional(),
  })
  .strict();

export type CertificateIssuedData = z.output<typeof certificateIssuedData>;

export function renderCertificateIssued(data: CertificateIssuedData): RenderedMail {
  const what = data.requestKind === 'renewal' ? 'renewed' : 'issued';
  const blocks: Block[] = [
    { kind: 'p', text: `A certificate was ${what} for "${data.definitionName}" and is now its current certificate.` },
    {
      kind: 'fields',
      rows: [
        ['Definition', data.definitionName],
        ['Common name', data.commonName],
        ['Subject', data.subject],
        ['Subject alt. names', data.sans.join(', ')],
        ['Issuer', data.issuer],
        ['Serial', data.serial],
        ['Valid from', data.notBefore ? formatTime(data.notBefore) : undefined],
        ['Valid until', formatTime(data.notAfter)],
        ['SHA-256', data.sha256],
        ['SHA-1', data.sha1],
        ['Request id', data.requestId],
      ],
    },
  ];
  if (data.nextStep) blocks.push({ kind: 'p', text: `Next: ${data.nextStep}` });
  if (data.consoleUrl) blocks.push({ kind: 'p', text: `Console: ${data.consoleUrl}` });
  const name = data.commonName ?? data.subject;
  return renderBlocks(subject(`Certificate ${what}: ${data.definitionName}${name ? ` (${name})` : ''}`), blocks);
}

export const certificateIssued = defineTemplate({
  name: 'certificate-issued',
  data: certificateIssuedData,
  render: renderCertificateIssued,
});
