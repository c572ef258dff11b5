/**
 * Endpoints outside the v2 API, on every listener: `GET /-/health` (200 while serving; fastify
 * answers 503 once the listener is closing), `GET /-/status` (plan id, the latest load attempt,
 * whether the serving plan matches the config on disk and its git revision, listeners,
 * repositories, uptime, each upstream's health as last seen (last success, last error, quota left),
 * and each of its endpoints (mirrors and remote URL, in the order tried) with its circuit breaker
 * (state, consecutive failures, next retry) and requests in flight and queued;
 * no secrets: the plan's secret references are not included) and
 * `GET /-/token` (the Docker token endpoint, served by the access controller).
 */
import type { FastifyInstance } from 'fastify';
import type { EventSink } from '../../events.ts';
import type { PlanHolder } from '../../server/plan-holder.ts';
import type { RuntimeState } from '../../server/state.ts';
import type { UpstreamHealth } from '../../upstream/client.ts';
import type { EndpointHealth } from '../../upstream/endpoints.ts';
import { toAuthRequest } from '../context.ts';
import { NO_EVENT_SINK, reportAuthFailure } from '../observe.ts';

export interface OpsRoutesOptions {
  readonly holder: PlanHolder;
  readonly listenerId: string;
  /** Process start, for `uptimeSeconds`. */
  readonly startedAt: number;
  /** Where token-endpoint refusals are reported (metrics, audit log). */
  readonly sink?: EventSink;
}

/** What ops reads of a proxy repository (proxy.ts), without touching the network. */
interface ProxyHealthSource {
  readonly upstreamHealth?: Readonly<UpstreamHealth>;
  readonly endpointHealth?: EndpointHealth[];
}

/** A proxy repository's live upstream health (its remote URL's), and each endpoint's with its breaker. */
function upstreamHealthOf(state: RuntimeState, name: string) {
  const repository = state.repositories.get(name) as ProxyHealthSource | undefined;
  return { ...repository?.upstreamHealth, endpoints: repository?.endpointHealth ?? [] };
}

/** The JSON of `GET /-/status`. */
export function formatStatus(state: RuntimeState, options: OpsRoutesOptions) {
  const { plan } = state;
  return {
    status: 'ok',
    planId: plan.id,
    lastReload: options.holder.lastReload,
    config: options.holder.config,
    listener: options.listenerId,
    startedAt: new Date(options.startedAt).toISOString(),
    uptimeSeconds: Math.round((Date.now() - options.startedAt) / 1000),
    inFlight: options.holder.inFlight,
    ...(options.holder.storageStatus === undefined ? {} : { storage: options.holder.storageStatus }),
    listeners: plan.listeners.map((listener) => ({
      id: listener.id,
      tls: listener.tls !== null,
      defaultRepository: listener.defaultRepository,
      paths: listener.paths,
      virtualHosts: listener.virtualHosts,
      mirrors: listener.mirrors,
    })),
    repositories: Object.values(plan.repositories).map((repository) => {
      const prefetch = repository.type === 'proxy' ? options.holder.prefetchStatus(repository.name) : undefined;
      return {
        name: repository.name,
        type: repository.type,
        online: repository.online,
        blobStore: repository.blobStore,
        ...(repository.type === 'hosted' ? { deploymentPolicy: repository.deploymentPolicy } : {}),
        ...(repository.type === 'proxy' ? { remote: repository.remote.url, offline: repository.offline } : {}),
        ...(repository.type === 'group'
          ? { members: repository.members, writableMember: repository.writableMember }
          : {}),
        ...(prefetch === undefined ? {} : { prefetch }),
      };
    }),
    blobStores: Object.values(plan.blobStores).map((store) => ({ name: store.name, driver: store.driver })),
    // Each proxy's upstream as last seen by this process (no request is sent to answer this).
    upstreams: Object.values(plan.repositories).flatMap((repository) =>
      repository.type === 'proxy'
        ? [
            {
              name: repository.name,
              url: repository.remote.url,
              lastSuccessAt: null,
              lastErrorAt: null,
              lastError: null,
              rateLimitRemaining: null,
              rateLimitLimit: null,
              ...upstreamHealthOf(state, repository.name),
            },
          ]
        : [],
    ),
  };
}

export function registerOpsRoutes(app: FastifyInstance, options: OpsRoutesOptions): void {
  app.route({
    method: ['GET', 'HEAD'],
    url: '/-/health',
    handler: async (request, reply) => {
      await reply.code(200).send(request.method === 'HEAD' ? undefined : { status: 'ok' });
    },
  });

  app.get('/-/status', async (request, reply) => {
    const state = request.regctl?.lease.state ?? options.holder.state;
    await reply.code(200).send(formatStatus(state, options));
  });

  app.get('/-/token', async (request, reply) => {
    const state = request.regctl?.lease.state ?? options.holder.state;
    const query = new URLSearchParams(request.url.split('?')[1] ?? '');
    const resolver = state.routes.get(options.listenerId);
    const route = { host: request.headers.host, ns: undefined, prefix: undefined };
    const response = await state.access
      .issueToken(
        toAuthRequest(request),
        {
          ...(query.has('service') ? { service: query.get('service')! } : {}),
          scope: query.getAll('scope').flatMap((scope) => scope.split(' ').filter(Boolean)),
          ...(query.has('account') ? { account: query.get('account')! } : {}),
        },
        (name) => resolver?.tryResolve(name, route)?.repository,
      )
      .catch((error: unknown) => {
        throw reportAuthFailure(options.sink ?? NO_EVENT_SINK, error, request);
      });
    reply.header('Cache-Control', 'no-store');
    await reply.code(200).send(response);
  });
}
