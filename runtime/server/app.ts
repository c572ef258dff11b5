/**
 * The fastify app of one listener, without `listen()`, so tests drive it with `inject()` and
 * `listeners.ts` binds it. Each request captures the active runtime state once, in `onRequest`,
 * and releases it when its response is closed (finished or aborted): a plan swap never changes
 * what an in-flight request sees, and the old state is disposed only after its last request.
 * One access-log line per request is written in `onResponse`.
 *
 * Every refusal is rendered by the one error handler in the OCI shape, including fastify's own
 * (`frameworkErrors`: a URL it cannot decode), requests refused in `onRequest` (absolute-form
 * targets, HTTP/1.1 without `Host`, arriving while the listener closes: 503 instead of fastify's
 * plain JSON) and, outside fastify, what the connection guard answers on the socket.
 */
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import { ConnectionGuard } from '../http/connection-guard.ts';
import { notFound, sendError } from '../http/error-handler.ts';
import { API_VERSION, API_VERSION_HEADER } from '../http/headers.ts';
import { CONNECTION_LIMITS, type ConnectionLimits, resolveServerOptions } from '../http/limits.ts';
import { refuseRequest } from '../http/refuse-request.ts';
import { registerInventoryRoutes } from '../http/routes/inventory.ts';
import { registerOpsRoutes } from '../http/routes/ops.ts';
import { unroutedMethod, v2Plugin } from '../http/v2-plugin.ts';
import { uiPlugin } from '../ui/plugin.ts';
import { redactUrl } from './log.ts';
import type { Observability } from './observability.ts';
import type { PlanHolder } from './plan-holder.ts';

export interface RegistryAppOptions {
  readonly holder: PlanHolder;
  /** The `ListenerPlan.id` this app serves: its route table is looked up per request. */
  readonly listenerId: string;
  readonly log: FastifyBaseLogger;
  /** PEM certificate and key: the app serves HTTPS. */
  readonly https?: { readonly cert: Buffer | string; readonly key: Buffer | string };
  /** Process start (ms since epoch) for the status endpoint; defaults to now. */
  readonly startedAt?: number;
  /** Overrides of {@link CONNECTION_LIMITS} (tests use short timeouts). */
  readonly limits?: Partial<ConnectionLimits>;
  /** Metrics, audit log and webhooks of the process (serve passes its own; absent in unit tests). */
  readonly observability?: Observability;
}

/** The `route` label of requests outside the v2 API, by fastify route. */
const OPS_ROUTES: Readonly<Record<string, string>> = {
  '/-/health': 'health',
  '/-/status': 'status',
  '/-/token': 'token',
  '/-/inventory': 'inventory',
  '/-/inventory/:repository': 'inventory',
  '/': 'ui',
  '/ui': 'ui',
  '/ui/*': 'ui',
  '/ui/login': 'ui',
  '/ui/logout': 'ui',
};

/** Builds the app; call `ready()` (or `listen()`) before use. */
export function createRegistryApp(options: RegistryAppOptions): FastifyInstance {
  const log = options.log.child({ listener: options.listenerId });
  const limits: ConnectionLimits = { ...CONNECTION_LIMITS, ...options.limits };
  const guard = new ConnectionGuard(limits, log);
  const serverOptions = resolveServerOptions(limits);
  const app = Fastify({
    loggerInstance: log,
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: () => randomUUID(),
    exposeHeadRoutes: false,
    // Refused in `onRequest` instead, with the OCI body.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    routerOptions: { maxParamLength: 1024, ignoreTrailingSlash: false },
    connectionTimeout: limits.idleTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    requestTimeout: 0,
    clientErrorHandler: guard.onClientError,
    frameworkErrors: (error, request, reply) => void sendError(error, request, reply),
    ...(options.https
      ? {
          https: {
            ...serverOptions,
            cert: options.https.cert,
            key: options.https.key,
            handshakeTimeout: limits.headersTimeoutMs,
          },
        }
      : { http: serverOptions }),
  }) as unknown as FastifyInstance;
  guard.attach(app.server);

  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  app.decorateRequest('regctl', null);
  // Both hooks take `done` rather than being async: no promise per request for synchronous work.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header(API_VERSION_HEADER, API_VERSION);
    const refusal = refuseRequest(request, closing);
    if (refusal) {
      done(refusal);
      return;
    }
    const lease = options.holder.acquire();
    request.regctl = { lease };
    reply.raw.once('close', lease.release);
    done();
  });
  const metrics = options.observability?.metrics;
  app.addHook('onResponse', (request, reply, done) => {
    const length = reply.getHeader('content-length');
    if (metrics?.enabled) {
      const context = request.regctl;
      const received = request.headers['content-length'];
      metrics.httpRequest({
        repository: context?.repository,
        method: request.method,
        route: context?.route ?? OPS_ROUTES[request.routeOptions.url ?? ''] ?? 'other',
        status: reply.statusCode,
        seconds: reply.elapsedTime / 1000,
        bytesSent: request.method === 'HEAD' || length === undefined ? 0 : Number(length) || 0,
        bytesReceived: received === undefined ? (context?.bytesReceived ?? 0) : Number(received) || 0,
      });
    }
    request.log.info(
      {
        method: request.method,
        url: redactUrl(request.url),
        status: reply.statusCode,
        bytes: length === undefined ? undefined : Number(length),
        ms: Math.round(reply.elapsedTime * 10) / 10,
        repository: request.regctl?.repository,
        ip: request.ip,
      },
      'request',
    );
    done();
  });
  app.setErrorHandler((error, request, reply) => sendError(error, request, reply));
  // A method the router has no route for (OPTIONS, TRACE, PROPFIND …) on a v2 endpoint is a 405.
  app.setNotFoundHandler(async (request, reply) => {
    const refusal = unroutedMethod(request.raw.url ?? request.url, request.method);
    await (refusal ? sendError(refusal, request, reply) : notFound(request, reply));
  });

  registerOpsRoutes(app, {
    holder: options.holder,
    listenerId: options.listenerId,
    startedAt: options.startedAt ?? Date.now(),
    ...(options.observability === undefined ? {} : { sink: options.observability }),
  });
  registerInventoryRoutes(app, { holder: options.holder, listenerId: options.listenerId });
  app.register(v2Plugin, {
    holder: options.holder,
    listenerId: options.listenerId,
    ...(options.observability === undefined
      ? {}
      : { sink: options.observability, metrics: options.observability.metrics }),
  });
  // The web UI (runtime/ui/): off per request when the plan says `ui: false`.
  app.register(uiPlugin, {
    holder: options.holder,
    listenerId: options.listenerId,
    tls: options.https !== undefined,
    ...(options.observability === undefined ? {} : { sink: options.observability }),
  });
  return app;
}
