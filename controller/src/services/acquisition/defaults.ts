import { builtInIssuers } from '../../issuers/built-in';
import { mailNotifier } from '../../notifications';
import type { ServiceContext } from '../context';
import type { AcquisitionDeps } from './acquisition-service';

export function defaultAcquisitionDeps(ctx: ServiceContext): AcquisitionDeps {
  return { issuers: builtInIssuers, notifier: mailNotifier(ctx) };
}
