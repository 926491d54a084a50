/**
 * `certificate-issued` (SPEC N2, A4): a new certificate was received, verified and made current for a definition.
 *
 * Data: `definitionName`, `commonName`, `serial`, `issuer`, `notBefore`, `notAfter`, `sha256`; optional `sans`,
 * `sha1`, `requestId`, `requestKind`, `nextStep` (e.g. "deployment to web1 pending"), `consoleUrl`.
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
    commonName: z.string().max(300),
    sans: z.array(z.string().max(300)).max(1000).default([]),
    serial: z.string().min(1).max(200),
    issuer: z.string().min(1).max(1000),
    notBefore: dateField,
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
        ['Subject alt. names', data.sans.join(', ')],
        ['Issuer', data.issuer],
        ['Serial', data.serial],
        ['Valid from', formatTime(data.notBefore)],
        ['Valid until', formatTime(data.notAfter)],
        ['SHA-256', data.sha256],
        ['SHA-1', data.sha1],
        ['Request id', data.requestId],
      ],
    },
  ];
  if (data.nextStep) blocks.push({ kind: 'p', text: `Next: ${data.nextStep}` });
  if (data.consoleUrl) blocks.push({ kind: 'p', text: `Console: ${data.consoleUrl}` });
  return renderBlocks(subject(`Certificate ${what}: ${data.definitionName} (${data.commonName})`), blocks);
}

export const certificateIssued = defineTemplate({
  name: 'certificate-issued',
  data: certificateIssuedData,
  render: renderCertificateIssued,
});
