/**
 * `install-request` (SPEC D5): asks a server administrator to install a certificate by hand, linking the manual
 * package (cert, encrypted key, chain, PKCS#12, instructions).
 *
 * Data: `definitionName`, `serverName`, `commonName`, `notAfter`, `sha256`; optional `serverType`, `packageUrl`
 * (link to the package), `packageName` (file name when the caller attaches it), `instructions` (steps),
 * `installBy` (deadline), `checkEndpoint` (host:port the deploy check will probe), `requestedBy`, `consoleUrl`.
 */
import { z } from 'zod';
import {
  dateField,
  defineTemplate,
  formatDay,
  formatTime,
  nameField,
  renderBlocks,
  sha256Field,
  subject,
  urlField,
  type Block,
  type RenderedMail,
} from './layout';

export const installRequestData = z
  .object({
    definitionName: nameField,
    serverName: nameField,
    serverType: z.string().max(100).optional().describe('nginx, apache, haproxy, postfix, …'),
    commonName: z.string().max(300),
    notAfter: dateField,
    sha256: sha256Field,
    packageUrl: urlField.optional(),
    packageName: z.string().max(300).optional(),
    instructions: z.array(z.string().min(1).max(2000)).max(50).default([]),
    installBy: dateField.optional(),
    checkEndpoint: z.string().max(300).optional(),
    requestedBy: z.string().max(300).optional(),
    consoleUrl: urlField.optional(),
  })
  .strict();

export type InstallRequestData = z.output<typeof installRequestData>;

export function renderInstallRequest(data: InstallRequestData): RenderedMail {
  const blocks: Block[] = [
    {
      kind: 'p',
      text: `Please install the new certificate for "${data.definitionName}" on ${data.serverName}${
        data.installBy ? ` by ${formatDay(data.installBy)}` : ''
      }.`,
    },
    {
      kind: 'fields',
      rows: [
        ['Definition', data.definitionName],
        ['Server', data.serverName],
        ['Server software', data.serverType],
        ['Common name', data.commonName],
        ['Valid until', formatTime(data.notAfter)],
        ['SHA-256', data.sha256],
        ['Install by', data.installBy ? formatDay(data.installBy) : undefined],
        ['Requested by', data.requestedBy],
      ],
    },
  ];
  if (data.packageUrl || data.packageName) {
    blocks.push(
      { kind: 'heading', text: 'Package' },
      {
        kind: 'p',
        text: data.packageUrl
          ? `Download the installation package: ${data.packageUrl}`
          : `The installation package is attached: ${data.packageName}`,
      }
    );
  }
  if (data.instructions.length) {
    blocks.push({ kind: 'heading', text: 'Instructions' }, { kind: 'list', items: data.instructions });
  }
  blocks.push({
    kind: 'p',
    text: data.checkEndpoint
      ? `After installing, CertFleet checks that ${data.checkEndpoint} serves the certificate with the SHA-256 above.`
      : 'After installing, confirm the installation in the console so the deploy check can run.',
  });
  if (data.consoleUrl) blocks.push({ kind: 'p', text: `Console: ${data.consoleUrl}` });
  return renderBlocks(subject(`Install request: ${data.definitionName} on ${data.serverName}`), blocks);
}

export const installRequest = defineTemplate({
  name: 'install-request',
  data: installRequestData,
  render: renderInstallRequest,
});
