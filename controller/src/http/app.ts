import Fastify, { type FastifyInstance } from 'fastify';
import type { AcquisitionDeps } from '../services/acquisition/acquisition-service';
import type { AgentPki } from '../services/agents/agent-pki';
import type { ServiceContext } from '../services/context';
import { CLIENT_CERT_TLS_OPTIONS } from './access/client-cert';
import { enforceCsrf } from './access/csrf';
import { ipAllowListGate } from './access/ip-allow-list';
import { SECURITY_HEADERS } from './access/security-headers';
import { authenticateRequest } from './access/session-auth';
import { registerConsole } from './console';
import { errorHandler } from './error-handler';
import { buildOpenApi } from './openapi';
import { addRoute, type AnyRouteSpec } from './route';
import { accessSettingsRoutes } from './routes/access-settings';
import { agentRoutes } from './routes/agents';
import { authRoutes } from './routes/auth';
import { caRoutes } from './routes/ca';
import { certificateRoutes } from './routes/certificates';
import { definitionRoutes } from './routes/definitions';
import { deploymentRoutes } from './routes/deployments';
import { discoveryRoutes } from './routes/discovery';
import { documentRoutes } from './routes/documents';
import { historyRoutes } from './routes/histories';
import { keyRoutes } from './routes/keys';
import { manualPackageRoutes } from './routes/manual-packages';
import { metricsRoutes } from './routes/metrics';
import { monitoringRoutes } from './routes/monitoring';
import { notificationRoutes } from './routes/notifications';
import { productRoutes } from './routes/products';
import { providerAccountRoutes } from './routes/provider-accounts';
import { requestRoutes } from './routes/requests';
import { userRoutes } from './routes/users';
import type { AddRoute } from './routes/types';

export interface AppOptions {
  ctx: ServiceContext;
  acquisition: AcquisitionDeps;
  agentPki?: AgentPki;
  version: string;
  /** TLS material for HTTPS; omitted in `inject()` tests. */
  https?: { key: string; cert: string };
  /** Readiness: database reachable and migrations applied. */
  isReady: () => Promise<boolean>;
}

const routeModules = [
  authRoutes,
  userRoutes,
  accessSettingsRoutes,
  definitionRoutes,
  requestRoutes,
  certificateRoutes,
  keyRoutes,
  documentRoutes,
  providerAccountRoutes,
  historyRoutes,
  productRoutes,
  notificationRoutes,
  caRoutes,
  agentRoutes,
  deploymentRoutes,
  manualPackageRoutes,
  metricsRoutes,
  monitoringRoutes,
  discoveryRoutes,
];

/**
 * Builds the controller's HTTP app (health, REST API under /api/v1, OpenAPI at /api/openapi.json) without listening,
 * so tests can use `app.inject()` (fastify's testing pattern). Request logs never include bodies or the
 * Authorization header.
 */
export async function buildApp(opts: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: opts.ctx.log,
    ...(opts.https
      ? {
          https: {
            key: opts.https.key,
            cert: opts.https.cert,
            minVersion: 'TLSv1.2' as const,
            ...CLIENT_CERT_TLS_OPTIONS, // SPEC U4: ask for a client certificate, never require one at TLS level
          },
        }
      : {}),
    trustProxy: false,
    bodyLimit: 1024 * 1024,
  }) as unknown as FastifyInstance;
  app.setErrorHandler(errorHandler);
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  // SPEC U2: the IP allow-list runs first, before body parsing and authentication, on every route.
  const ipGate = ipAllowListGate(opts.ctx);
  app.addHook('onRequest', async (req) => ipGate.onRequest(req));
  app.addHook('onSend', async (_req, reply) => {
    reply.header('cache-control', 'no-store');
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) reply.header(name, value);
  });
  // SPEC U1: bearer token or session cookie, then CSRF rules for cookie sessions and cross-site requests.
  app.addHook('preHandler', async (req) => {
    await authenticateRequest(opts.ctx, req);
    enforceCsrf(opts.ctx, req);
  });

  const registry: AnyRouteSpec[] = [];
  const add: AddRoute = (spec) => addRoute(app, registry, spec);
  for (const mod of routeModules) {
    mod(add, { ctx: opts.ctx, acquisition: opts.acquisition, ...(opts.agentPki ? { agentPki: opts.agentPki } : {}) });
  }

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const ready = await opts.isReady().catch(() => false);
    return reply.status(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not-ready' });
  });
  const openapi = buildOpenApi(registry, opts.version);
  app.get('/api/openapi.json', async () => openapi);
  await registerConsole(app); // the web console at / (SPEC W1–W12)
  return app;
}
