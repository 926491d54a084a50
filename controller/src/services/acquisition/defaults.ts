import { builtInIssuers } from '../../issuers/built-in';
import type { ServiceContext } from '../context';
import type { AcquisitionDeps } from './acquisition-service';
import type { Notifier } from './notifier';

/** Logs what would be mailed; replaced by the SMTP notifier once notifications are configured. */
export function loggingNotifier(ctx: ServiceContext): Notifier {
  return {
    notify: async (template, data) => {
      ctx.log.info({ template, definition: data.definitionName }, 'notification');
    },
  };
}

export function defaultAcquisitionDeps(ctx: ServiceContext): AcquisitionDeps {
  return { issuers: builtInIssuers, notifier: loggingNotifier(ctx) };
}
