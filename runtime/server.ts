/**
 * The fastify app of one listener, without `listen()`, so tests drive it with `inject()` and
 * `listeners.ts` binds it. Each request captures the active runtime state once, in `onRequest`,
 * and releases it when its response is closed (finished or aborted): a plan swap never changes
 * what an in-flight request sees, and the old state is disposed only after its last request.
 * One access-log line per request is written in `onResponse`.
 */
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import { notFound, sendError } from './http/error-handler.ts';
import { API_VERSION, API_VERSION_HEADER } from './http/headers.ts';
import { registerOpsRoutes } from './http/routes/ops.ts';
import { v2Plugin } from './http/v2-plugin.ts';
import { redactUrl } from './log.ts';
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
}

/** Builds the app; call `ready()` (or `listen()`) before use. */
export function createRegistryApp(options: RegistryAppOptions): FastifyInstance {
  const app = Fastify({
    loggerInstance: options.log.child({ listener: options.listenerId }),
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: () => randomUUID(),
    exposeHeadRoutes: false,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    routerOptions: { maxParamLength: 1024, ignoreTrailingSlash: false },
    ...(options.https ? { https: { cert: options.https.cert, key: options.https.key } } : {}),
  }) as unknown as FastifyInstance;

  app.decorateRequest('regctl', null);
  // Both hooks take `done` rather than being async: no promise per request for synchronous work.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header(API_VERSION_HEADER, API_VERSION);
    const lease = options.holder.acquire();
    request.regctl = { lease };
    reply.raw.once('close', lease.release);
    done();
  });
  app.addHook('onResponse', (request, reply, done) => {
    const length = reply.getHeader('content-length');
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
  app.setNotFoundHandler((request, reply) => notFound(request, reply));

  registerOpsRoutes(app, {
    holder: options.holder,
    listenerId: options.listenerId,
    startedAt: options.startedAt ?? Date.now(),
  });
  app.register(v2Plugin, { holder: options.holder, listenerId: options.listenerId });
  return app;
}
