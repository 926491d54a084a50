import { builtInIssuers } from '../../issuers/built-in';
import { mailNotifier } from '../../notifications';
import type { ChallengeResponder } from '../../issuers/acme/http01-responder';
import type { ServiceContext } from '../context';
import type { AcquisitionDeps } from './acquisition-service';

/** Built-in issuers, the SMTP notifier, and the controller's HTTP-01 responder when it runs one. */
export function defaultAcquisitionDeps(
  ctx: ServiceContext,
  extras: { http01Responder?: ChallengeResponder } = {}
): AcquisitionDeps {
  return { issuers: builtInIssuers, notifier: mailNotifier(ctx), ...extras };
}
