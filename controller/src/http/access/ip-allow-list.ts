/**
 * The IP allow-list gate (SPEC U2): an `onRequest` hook, so it runs before body parsing and authentication, on
 * every route of the HTTPS listener (API, login, console files, /healthz, /readyz and unknown URLs alike: a health
 * checker outside the list must be added to it). The list comes from {@link accessSettings} (re-read at most every
 * second, so changes apply without restart). Refusals are CF_IP_NOT_ALLOWED (403), counted, and logged with the
 * address, method and path only (no query string, headers or body), at most one line per second.
 */
import type { FastifyRequest } from 'fastify';
import { CertFleetError } from '@certfleet/shared';
import { isAllowedByList } from '../../domain/cidr';
import { accessSettings } from '../../services/access-settings-service';
import type { ServiceContext } from '../../services/context';

export interface IpAllowListGate {
  onRequest(req: FastifyRequest): Promise<void>;
  /** Requests refused since this process started. */
  rejected(): number;
}

const gates = new WeakMap<ServiceContext, { rejected: number; loggedAtMs: number; unlogged: number }>();

/** Requests the gate refused in this process (0 when no gate runs). */
export function rejectedByIpAllowList(ctx: ServiceContext): number {
  return gates.get(ctx)?.rejected ?? 0;
}

export function ipAllowListGate(ctx: ServiceContext): IpAllowListGate {
  const counter = gates.get(ctx) ?? { rejected: 0, loggedAtMs: -Infinity, unlogged: 0 };
  gates.set(ctx, counter);
  return {
    rejected: () => counter.rejected,
    onRequest: async (req) => {
      const { ipAllowList } = await accessSettings(ctx).get();
      if (isAllowedByList(ipAllowList, req.ip)) return;
      counter.rejected++;
      const now = performance.now();
      if (now - counter.loggedAtMs >= 1000) {
        req.log.warn(
          {
            remote: req.ip,
            method: req.method,
            path: req.url.split('?')[0]?.slice(0, 200),
            rejected: counter.rejected,
            notLogged: counter.unlogged,
          },
          'request refused by the IP allow-list'
        );
        counter.loggedAtMs = now;
        counter.unlogged = 0;
      } else {
        counter.unlogged++;
      }
      throw new CertFleetError('CF_IP_NOT_ALLOWED', `access: address ${req.ip} is not on the IP allow-list`);
    },
  };
}
