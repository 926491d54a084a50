/**
 * `install-notification` (SPEC D5): tells a server administrator that a certificate was installed on their server
 * (by the agent, the offline installer or by hand), with the new and the replaced fingerprints.
 *
 * Data: `definitionName`, `serverName`, `commonName`, `installedAt`, `method`, `sha256`, `notAfter`; optional
 * `previousSha256`, `installedBy` (agent name or user), `note`, `consoleUrl`.
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

const methods = { agent: 'CertFleet agent', 'offline-installer': 'offline installer', manual: 'by hand' } as const;

export const installNotificationData = z
  .object({
    definitionName: nameField,
    serverName: nameField,
    commonName: z.string().max(300),
    installedAt: dateField,
    method: z.enum(['agent', 'offline-installer', 'manual']),
    installedBy: z.string().max(300).optional(),
    sha256: sha256Field,
    previousSha256: sha256Field.optional(),
    notAfter: dateField,
    note: z.string().max(4000).optional(),
    consoleUrl: urlField.optional(),
  })
  .strict();

export type InstallNotificationData = z.output<typeof installNotificationData>;

export function renderInstallNotification(data: InstallNotificationData): RenderedMail {
  const blocks: Block[] = [
    {
      kind: 'p',
      text: `A new certificate for "${data.definitionName}" was installed on ${data.serverName} (${methods[data.method]}).`,
    },
    {
      kind: 'fields',
      rows: [
        ['Definition', data.definitionName],
        ['Server', data.serverName],
        ['Common name', data.commonName],
        ['Installed at', formatTime(data.installedAt)],
        ['Installed by', data.installedBy],
        ['SHA-256 (new)', data.sha256],
        ['SHA-256 (replaced)', data.previousSha256],
        ['Valid until', formatTime(data.notAfter)],
      ],
    },
  ];
  if (data.note) blocks.push({ kind: 'p', text: data.note });
  if (data.consoleUrl) blocks.push({ kind: 'p', text: `Console: ${data.consoleUrl}` });
  return renderBlocks(subject(`Certificate installed: ${data.definitionName} on ${data.serverName}`), blocks);
}

export const installNotification = defineTemplate({
  name: 'install-notification',
  data: installNotificationData,
  render: renderInstallNotification,
});
