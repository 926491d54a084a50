/**
 * `install-notification` (SPEC D5): tells a server administrator that a certificate was installed on their server
 * (by the agent, the offline installer or by hand), with the new and the replaced fingerprints, or that the
 * deployment was verified (the deploy check saw the new certificate served) or failed, with the reason.
 *
 * Data: `definitionName`, `serverName`, `commonName`, `installedAt`, `method`, `sha256`, `notAfter`; optional
 * `outcome` (`installed` by default, `verified`, `failed`), `reason` (why it failed; required for `failed`),
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
    outcome: z.enum(['installed', 'verified', 'failed']).default('installed'),
    reason: z.string().min(1).max(4000).optional(),
    installedBy: z.string().max(300).optional(),
    sha256: sha256Field,
    previousSha256: sha256Field.optional(),
    notAfter: dateField,
    note: z.string().max(4000).optional(),
    consoleUrl: urlField.optional(),
  })
  .strict()
  .refine((d) => d.outcome !== 'failed' || d.reason !== undefined, {
    message: 'a failed installation needs a reason',
    path: ['reason'],
  });

export type InstallNotificationData = z.output<typeof installNotificationData>;

export function renderInstallNotification(data: InstallNotificationData): RenderedMail {
  const where = `"${data.definitionName}" on ${data.serverName}`;
  const lead = {
    installed: `A new certificate for ${where} was installed (${methods[data.method]}).`,
    verified: `The new certificate for ${where} was installed (${methods[data.method]}) and verified: the server serves it.`,
    failed: `Installing the new certificate for ${where} failed (${methods[data.method]}).`,
  }[data.outcome];
  const blocks: Block[] = [
    { kind: 'p', text: lead },
    {
      kind: 'fields',
      rows: [
        ['Definition', data.definitionName],
        ['Server', data.serverName],
        ['Result', data.outcome],
        ['Reason', data.reason],
        ['Common name', data.commonName],
        [data.outcome === 'failed' ? 'Attempted at' : 'Installed at', formatTime(data.installedAt)],
        ['Installed by', data.installedBy],
        ['SHA-256 (new)', data.sha256],
        ['SHA-256 (replaced)', data.previousSha256],
        ['Valid until', formatTime(data.notAfter)],
      ],
    },
  ];
  if (data.note) blocks.push({ kind: 'p', text: data.note });
  if (data.consoleUrl) blocks.push({ kind: 'p', text: `Console: ${data.consoleUrl}` });
  const title = {
    installed: 'Certificate installed',
    verified: 'Certificate installed and verified',
    failed: 'Certificate installation FAILED',
  }[data.outcome];
  return renderBlocks(subject(`${title}: ${data.definitionName} on ${data.serverName}`), blocks);
}

export const installNotification = defineTemplate({
  name: 'install-notification',
  data: installNotificationData,
  render: renderInstallNotification,
});
