import { z } from 'zod';
import {
  createEndpoint,
  deleteEndpoint,
  endpointInputSchema,
  endpointPatchSchema,
  listEndpoints,
  updateEndpoint,
} from '../../services/monitoring/endpoints-service';
import {
  completeDeployCheckManually,
  deployCheck,
  deployCheckInputSchema,
  manualCheckInputSchema,
} from '../../services/monitoring/deploy-check-service';
import {
  getRun,
  listRuns,
  renderRunReportHtml,
  runListQuerySchema,
  runMonitor,
} from '../../services/monitoring/monitor-service';
import {
  addTrustSetRoots,
  createTrustSet,
  deleteTrustSet,
  getTrustSet,
  listTrustSets,
  removeTrustSetRoot,
  trustSetInputSchema,
  trustSetRootsInputSchema,
} from '../../services/monitoring/trust-sets-service';
import {
  getMonitorSchedule,
  monitorScheduleInputSchema,
  setMonitorSchedule,
} from '../../services/monitoring/schedule-service';
import { actorOf, type RouteModule } from './types';

const definitionParams = z.object({ id: z.uuid() }).strict();
const endpointParams = z.object({ id: z.uuid(), endpointId: z.uuid() }).strict();
const runParams = z.object({ id: z.uuid() }).strict();
const trustSetParams = z.object({ id: z.string().min(1).max(100).describe('id, or name') }).strict();
const trustSetRootParams = z
  .object({
    id: z.string().min(1).max(100).describe('id, or name'),
    fingerprint: z
      .string()
      .regex(/^[0-9A-Fa-f:]{64,95}$/, 'the root certificate SHA-256 in hex')
      .describe("the root's SHA-256 fingerprint (hex)"),
  })
  .strict();

/** Monitoring (SPEC M1–M4), trusted CA sets (T1, T2) and the deploy check (D6). */
export const monitoringRoutes: RouteModule = (add, { ctx, acquisition }) => {
  add({
    method: 'POST',
    url: '/api/v1/definitions/:id/endpoints',
    summary:
      'Watch an endpoint of a definition (host defaults to the CN, port 443) and name who probes it — SPEC M1, M4',
    tags: ['monitoring'],
    permission: 'repository:write',
    params: definitionParams,
    body: endpointInputSchema,
    responseStatus: 201,
    handler: async ({ params, raw, user }) => createEndpoint(ctx, params.id, raw.body ?? {}, actorOf(user)),
  });
  add({
    method: 'GET',
    url: '/api/v1/definitions/:id/endpoints',
    summary: "A definition's monitored endpoints — SPEC M1, M4",
    tags: ['monitoring'],
    permission: 'repository:read',
    params: definitionParams,
    handler: async ({ params }) => listEndpoints(ctx, params.id),
  });
  add({
    method: 'PATCH',
    url: '/api/v1/definitions/:id/endpoints/:endpointId',
    summary: 'Change a monitored endpoint (enabled: false leaves it out of scheduled runs) — SPEC M4, D6',
    tags: ['monitoring'],
    permission: 'repository:write',
    params: endpointParams,
    body: endpointPatchSchema,
    handler: async ({ params, raw, user }) =>
      updateEndpoint(ctx, params.id, params.endpointId, raw.body ?? {}, actorOf(user)),
  });
  add({
    method: 'DELETE',
    url: '/api/v1/definitions/:id/endpoints/:endpointId',
    summary: 'Stop watching an endpoint (its history stays) — SPEC M1',
    tags: ['monitoring'],
    permission: 'repository:write',
    params: endpointParams,
    responseStatus: 204,
    handler: async ({ params, user }) => {
      await deleteEndpoint(ctx, params.id, params.endpointId, actorOf(user));
      return undefined;
    },
  });

  add({
    method: 'POST',
    url: '/api/v1/monitoring/runs',
    summary: 'Run now: probe and judge the enabled endpoints (of one definition); returns the finished run — SPEC M1',
    tags: ['monitoring'],
    permission: 'repository:write',
    body: z.object({ definitionId: z.uuid().optional() }).strict(),
    responseStatus: 201,
    handler: async ({ body }) =>
      runMonitor(ctx, { trigger: 'manual', ...(body.definitionId ? { definitionId: body.definitionId } : {}) }),
  });
  add({
    method: 'GET',
    url: '/api/v1/monitoring/runs',
    summary: 'Recent monitoring runs, newest first (counters, no report) — SPEC M1',
    tags: ['monitoring'],
    permission: 'repository:read',
    query: runListQuerySchema,
    handler: async ({ query }) => listRuns(ctx, query),
  });
  add({
    method: 'GET',
    url: '/api/v1/monitoring/runs/:id',
    summary: 'One run with its JSON report and its history rows (one per endpoint) — SPEC M1, R8',
    tags: ['monitoring'],
    permission: 'repository:read',
    params: runParams,
    handler: async ({ params }) => getRun(ctx, params.id),
  });
  add({
    method: 'GET',
    url: '/api/v1/monitoring/runs/:id/report.html',
    summary: 'The run report as a self-contained HTML page — SPEC M1',
    tags: ['monitoring'],
    permission: 'repository:read',
    params: runParams,
    contentType: 'text/html',
    handler: async ({ params }, reply) => {
      const run = await getRun(ctx, params.id);
      return reply
        .header('content-type', 'text/html; charset=utf-8')
        .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'")
        .send(renderRunReportHtml(run));
    },
  });

  add({
    method: 'GET',
    url: '/api/v1/monitoring/schedule',
    summary:
      'The monitoring schedule: cron (UTC), description, next run times, default or not, and what pg-boss ' +
      'holds — SPEC M1, W6',
    tags: ['monitoring'],
    permission: 'repository:read',
    handler: async () => getMonitorSchedule(ctx),
  });
  add({
    method: 'PUT',
    url: '/api/v1/monitoring/schedule',
    summary:
      'Change the monitoring schedule (5-field cron in UTC; null = default daily 06:00); takes effect in the ' +
      'running controller(s) without restart; audited — SPEC M1, W6',
    tags: ['monitoring'],
    permission: 'settings:manage',
    body: monitorScheduleInputSchema,
    handler: async ({ raw, user }) => setMonitorSchedule(ctx, raw.body, actorOf(user)),
  });

  add({
    method: 'GET',
    url: '/api/v1/trust-sets',
    summary: 'Trusted CA sets: the shipped system set (with its version) and the user-defined sets — SPEC T1, T2',
    tags: ['trust-sets'],
    permission: 'repository:read',
    handler: async () => listTrustSets(ctx),
  });
  add({
    method: 'GET',
    url: '/api/v1/trust-sets/:id',
    summary: 'One trusted CA set by id or name (`system` for the shipped set) — SPEC T1, T2',
    tags: ['trust-sets'],
    permission: 'repository:read',
    params: trustSetParams,
    handler: async ({ params }) => getTrustSet(ctx, params.id),
  });
  add({
    method: 'POST',
    url: '/api/v1/trust-sets',
    summary: 'Create a user-defined trusted CA set, optionally with PEM roots (CA certificates only) — SPEC T1, T2',
    tags: ['trust-sets'],
    permission: 'settings:manage',
    body: trustSetInputSchema,
    bodyLimit: 4 * 1024 * 1024,
    responseStatus: 201,
    handler: async ({ raw, user }) => createTrustSet(ctx, raw.body, actorOf(user)),
  });
  add({
    method: 'POST',
    url: '/api/v1/trust-sets/:id/roots',
    summary: 'Add PEM roots to a user-defined set (duplicates skipped, non-CA certificates refused) — SPEC T1',
    tags: ['trust-sets'],
    permission: 'settings:manage',
    params: trustSetParams,
    body: trustSetRootsInputSchema,
    bodyLimit: 4 * 1024 * 1024,
    handler: async ({ params, body, user }) => addTrustSetRoots(ctx, params.id, body, actorOf(user)),
  });
  add({
    method: 'DELETE',
    url: '/api/v1/trust-sets/:id/roots/:fingerprint',
    summary:
      'Remove one root from a user-defined set (the last root of a set a definition names is kept: ' +
      'CF_TRUST_SET_IN_USE) — SPEC T1',
    tags: ['trust-sets'],
    permission: 'settings:manage',
    params: trustSetRootParams,
    handler: async ({ params, user }) => removeTrustSetRoot(ctx, params.id, params.fingerprint, actorOf(user)),
  });
  add({
    method: 'DELETE',
    url: '/api/v1/trust-sets/:id',
    summary:
      'Delete a user-defined set (CF_TRUST_SET_READ_ONLY for the system set, CF_TRUST_SET_IN_USE while a ' +
      'definition names it) — SPEC T2',
    tags: ['trust-sets'],
    permission: 'settings:manage',
    params: trustSetParams,
    responseStatus: 204,
    handler: async ({ params, user }) => {
      await deleteTrustSet(ctx, params.id, actorOf(user));
      return undefined;
    },
  });

  add({
    method: 'POST',
    url: '/api/v1/deployments/:id/check',
    summary:
      "Deploy check: probe the target (controller, the deployment's agent, or any agent of a site) and mark the " +
      'deployment verified ' +
      'or failed; the result is mailed to the administrator — SPEC D6',
    tags: ['deployments'],
    permission: 'repository:write',
    params: z.object({ id: z.uuid() }).strict(),
    body: deployCheckInputSchema,
    handler: async ({ params, body, user }) =>
      deployCheck(ctx, params.id, {
        ...(body.from ? { from: body.from } : {}),
        ...(body.site ? { site: body.site } : {}),
        actor: actorOf(user),
        notifier: acquisition.notifier,
      }),
  });
  add({
    method: 'POST',
    url: '/api/v1/deployments/:id/check/manual',
    summary:
      'Complete the deploy check by hand with a note (verified), or continue without check (installed) — SPEC D6',
    tags: ['deployments'],
    permission: 'repository:write',
    params: z.object({ id: z.uuid() }).strict(),
    body: manualCheckInputSchema,
    handler: async ({ params, body, user }) =>
      completeDeployCheckManually(ctx, params.id, body.note, actorOf(user), {
        withoutCheck: body.withoutCheck,
        notifier: acquisition.notifier,
      }),
  });
};
