/**
 * Mail templates (SPEC N2), listed explicitly (no folder scanning). Each is a pure function of its zod-validated
 * data; {@link renderTemplate} is the only way the mailer renders one.
 */
import type { z } from 'zod';
import { CertFleetError } from '@certfleet/shared';
import { parseInput } from '../../services/definition-service';
import { certificateIssued } from './certificate-issued';
import { dailyDigest } from './daily-digest';
import { deployCheckResult } from './deploy-check-result';
import { expiryWarning } from './expiry-warning';
import { installNotification } from './install-notification';
import { installRequest } from './install-request';
import type { MailTemplate, RenderedMail } from './layout';
import { stalledProcess } from './stalled-process';
import { testMail } from './test-mail';

export const mailTemplates = {
  'test-mail': testMail,
  'stalled-process': stalledProcess,
  'expiry-warning': expiryWarning,
  'certificate-issued': certificateIssued,
  'install-request': installRequest,
  'install-notification': installNotification,
  'deploy-check-result': deployCheckResult,
  'daily-digest': dailyDigest,
} as const;

export type TemplateName = keyof typeof mailTemplates;
export const templateNames = Object.keys(mailTemplates) as TemplateName[];

/** What a caller passes for a template (dates may be `Date` or ISO strings; defaults may be left out). */
export type TemplateInput<K extends TemplateName> = z.input<(typeof mailTemplates)[K]['data']>;

/**
 * Validates `data` against the template's schema and renders it. Throws CF_VALIDATION (listing each bad field)
 * before anything is sent; throws CF_VALIDATION for an unknown template name.
 */
export function renderTemplate<K extends TemplateName>(name: K, data: TemplateInput<K>): RenderedMail {
  const template = (mailTemplates as Record<string, MailTemplate | undefined>)[name];
  if (!template) {
    throw new CertFleetError('CF_VALIDATION', `mail: unknown template ${JSON.stringify(name)}`, {
      details: { templates: templateNames },
    });
  }
  return template.render(parseInput(template.data, data, `mail(${name})`));
}

export * from './layout';
export * from './certificate-issued';
export * from './daily-digest';
export * from './deploy-check-result';
export * from './expiry-warning';
export * from './install-notification';
export * from './install-request';
export * from './stalled-process';
export * from './test-mail';
