import { clientCertLoginInputSchema } from '../../domain/client-cert-login';
import {
  getClientCertLogin,
  getIpAllowList,
  ipAllowListInputSchema,
  setClientCertLogin,
  setIpAllowList,
} from '../../services/access-settings-service';
import { presentedCertificate } from '../access/client-cert';
import { rejectedByIpAllowList } from '../access/ip-allow-list';
import { actorOf, type RouteModule } from './types';

/** SPEC U2 (IP allow-list) and U4 (client-certificate login) settings, admin only. */
export const accessSettingsRoutes: RouteModule = (add, { ctx }) => {
  add({
    method: 'GET',
    url: '/api/v1/settings/ip-allow-list',
    summary:
      'The IP allow-list (CIDR blocks; [] allows all), your own address as the controller sees it, and requests ' +
      'refused by this process — SPEC U2',
    tags: ['settings'],
    permission: 'settings:manage',
    handler: async ({ raw }) => ({
      ...(await getIpAllowList(ctx.db.em())),
      clientAddress: raw.ip,
      rejectedRequests: rejectedByIpAllowList(ctx),
    }),
  });
  add({
    method: 'PUT',
    url: '/api/v1/settings/ip-allow-list',
    summary:
      'Replace the IP allow-list (IPv4/IPv6 CIDR; applies within a second, without restart, before authentication ' +
      'on every route). A list without your own address is refused (CF_CONFLICT) unless force is true — SPEC U2',
    tags: ['settings'],
    permission: 'settings:manage',
    body: ipAllowListInputSchema,
    handler: async ({ raw, user }) => setIpAllowList(ctx, raw.body, raw.ip, actorOf(user)),
  });
  add({
    method: 'GET',
    url: '/api/v1/settings/client-cert-login',
    summary:
      'Client-certificate login settings, and the certificate this connection presents (its thumbprints), if any ' +
      '— SPEC U4',
    tags: ['settings'],
    permission: 'settings:manage',
    handler: async ({ raw }) => {
      const cert = presentedCertificate(raw);
      return {
        ...(await getClientCertLogin(ctx.db.em())),
        presentedCertificate: cert
          ? { subject: cert.subject, sha1: cert.sha1, sha256: cert.sha256, notAfter: cert.notAfter }
          : null,
      };
    },
  });
  add({
    method: 'PUT',
    url: '/api/v1/settings/client-cert-login',
    summary:
      'Enable/disable client-certificate login and set the allowed SHA-1/SHA-256 thumbprints. Enabling is refused ' +
      '(CF_CONFLICT) unless this connection presents an allowed certificate or force is true — SPEC U4',
    tags: ['settings'],
    permission: 'settings:manage',
    body: clientCertLoginInputSchema,
    handler: async ({ raw, user }) => setClientCertLogin(ctx, raw.body, presentedCertificate(raw), actorOf(user)),
  });
};
