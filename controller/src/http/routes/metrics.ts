import { renderMetrics } from '../../services/metrics-service';
import type { RouteModule } from './types';

/** Prometheus metrics (SPEC M5). Needs a session (`Authorization: Bearer …` in the scrape config). */
export const metricsRoutes: RouteModule = (add, { ctx }) => {
  add({
    method: 'GET',
    url: '/metrics',
    summary: 'Prometheus metrics: endpoint expiry and check status, last monitoring run, deployments, agents — SPEC M5',
    tags: ['monitoring'],
    permission: 'repository:read',
    handler: async (_req, reply) =>
      reply.header('content-type', 'text/plain; version=0.0.4; charset=utf-8').send(await renderMetrics(ctx)),
  });
};
