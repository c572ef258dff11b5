/**
 * What every v2 handler works with: the state the request captured at its start, the listener's
 * route resolver, the auth view of the request, and the URL prefix the client used (so that
 * `Location` and `Link` headers point back through the same route).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Action } from '../../compiler/plan.ts';
import type { AuthRequest, Principal } from '../auth/types.ts';
import type { ArtifactEvent, EventSink } from '../events.ts';
import type { RegistryMetrics } from '../metrics/registry-metrics.ts';
import { isRegistryError, RegistryError } from '../oci/errors.ts';
import { assertValidName } from '../oci/names.ts';
import { isWritable, type Repository, readOnlyRefusal, type WritableRepository } from '../repositories/repository.ts';
import type { StateLease } from '../server/plan-holder.ts';
import type { RuntimeState } from '../server/state.ts';
import { eventRequest, NO_EVENT_SINK, reportAuthFailure, requestOrigin } from './observe.ts';
import type { ResolvedName, RouteContext, RouteResolver } from './resolve-repository.ts';

/** Per-request data the app hangs on `request.regctl` (set in `onRequest`). */
export interface RequestContext {
  readonly lease: StateLease;
  /** The plan repository the request was routed to, for the access log and the metrics. */
  repository?: string;
  /** The endpoint kind (`manifest`, `blob`, `upload`, `status`, …): the metrics' `route` label. */
  route?: string;
  /** Body bytes received when the request had no Content-Length (a chunked upload). */
  bytesReceived?: number;
}

declare module 'fastify' {
  interface FastifyRequest {
    regctl: RequestContext | null;
  }
}

/** One v2 API call, before its name is resolved. */
export class ApiCall {
  readonly request: FastifyRequest;
  readonly reply: FastifyReply;
  readonly state: RuntimeState;
  readonly resolver: RouteResolver;
  readonly route: RouteContext;
  readonly query: URLSearchParams;
  readonly auth: AuthRequest;
  /** `''` or `/repository/<repo>`: what precedes `/v2/` in URLs handed back to the client. */
  readonly urlPrefix: string;
  /** Where artifact events and auth refusals go (audit log, webhooks, metrics). */
  readonly sink: EventSink;
  readonly metrics: RegistryMetrics | undefined;

  constructor(init: {
    request: FastifyRequest;
    reply: FastifyReply;
    state: RuntimeState;
    resolver: RouteResolver;
    query: URLSearchParams;
    prefix: string | undefined;
    sink?: EventSink;
    metrics?: RegistryMetrics;
  }) {
    this.sink = init.sink ?? NO_EVENT_SINK;
    this.metrics = init.metrics;
    this.request = init.request;
    this.reply = init.reply;
    this.state = init.state;
    this.resolver = init.resolver;
    this.query = init.query;
    this.route = { host: init.request.headers.host, ns: init.query.get('ns') ?? undefined, prefix: init.prefix };
    this.urlPrefix = init.prefix === undefined ? '' : `/repository/${encodeURIComponent(init.prefix)}`;
    this.auth = toAuthRequest(init.request);
  }

  /** `?ns=…` to append to URLs handed back, so follow-up requests route the same way. */
  get routingQuery(): URLSearchParams {
    const query = new URLSearchParams();
    if (this.route.ns !== undefined) query.set('ns', this.route.ns);
    return query;
  }

  /** `<prefix>/v2/<path>` plus the routing query (and `extra`). */
  url(path: string, extra?: Record<string, string>): string {
    const query = this.routingQuery;
    for (const [key, value] of Object.entries(extra ?? {})) query.set(key, value);
    const search = query.toString();
    return `${this.urlPrefix}/v2/${path}${search ? `?${search}` : ''}`;
  }

  /** Validates and routes `name`, checks `actions`, and returns the repository to call. */
  async target(name: string, actions: readonly Action[]): Promise<Target> {
    assertValidName(name);
    const resolved = this.resolver.resolve(name, this.route);
    if (this.request.regctl) this.request.regctl.repository = resolved.repository;
    const repository = this.state.repositories.get(resolved.repository);
    if (!repository) throw new RegistryError('NAME_UNKNOWN', { detail: { name } });
    const principal = await this.authorize(resolved, actions);
    return { ...resolved, repo: repository, principal };
  }

  /**
   * {@link target} for a write (`operation` names it in the refusal: "pushing a manifest", "an
   * upload", …). The one place a write to a read-only repository (a proxy) is refused: after
   * routing and authorization, as before the split, with `UNSUPPORTED` saying where to push instead.
   */
  async writeTarget(name: string, actions: readonly Action[], operation: string): Promise<WriteTarget> {
    const target = await this.target(name, actions);
    const { repo } = target;
    if (!isWritable(repo)) throw readOnlyRefusal(repo, operation);
    return { ...target, repo };
  }

  authorize(resolved: ResolvedName, actions: readonly Action[]): Promise<Principal> {
    return this.state.access
      .authorize(this.auth, { name: resolved.name, repository: resolved.repository, actions })
      .catch((error: unknown) => {
        throw reportAuthFailure(this.sink, error, this.request, {
          repository: resolved.repository,
          name: resolved.name,
          actions,
        });
      });
  }

  /**
   * Runs a push or delete and reports it (audit, webhooks) with its outcome: `describe` gives the
   * event's fields from the result. A failure is reported with its error code and rethrown.
   */
  async report<T>(
    target: Target,
    action: 'push' | 'delete',
    run: () => Promise<T>,
    describe: (result: T | undefined) => Partial<ArtifactEvent>,
  ): Promise<T> {
    let result: T;
    try {
      result = await run();
    } catch (error) {
      this.sink.artifact({
        ...this.#event(target, action),
        ...describe(undefined),
        error: isRegistryError(error) ? error.code : 'UNKNOWN',
      });
      throw error;
    }
    this.sink.artifact({ ...this.#event(target, action), ...describe(result) });
    return result;
  }

  /** Reports a successful pull of a manifest, when a webhook asked for pulls. */
  reportPull(target: Target, fields: Partial<ArtifactEvent>): void {
    if (this.sink.wants('pull')) this.sink.artifact({ ...this.#event(target, 'pull'), ...fields });
  }

  #event(target: Target, action: ArtifactEvent['action']): ArtifactEvent {
    return {
      action,
      repository: target.repository,
      name: target.name,
      user: target.principal.user,
      request: eventRequest(this.request),
      origin: requestOrigin(this.request),
    };
  }

  /** Counts an upload body in `regctl_uploads_in_progress` until the returned function is called. */
  receiving(target: Target): () => void {
    return this.metrics?.uploadStarted(target.repository) ?? NOTHING;
  }
}

const NOTHING = () => {};

/** A routed, authorized name. */
export interface Target extends ResolvedName {
  readonly repo: Repository;
  readonly principal: Principal;
}

/** A routed, authorized name whose repository takes writes. */
export interface WriteTarget extends Target {
  readonly repo: WritableRepository;
}

/** The auth view of a request: headers, Host (with port), scheme, client address and connection. */
export function toAuthRequest(request: FastifyRequest): AuthRequest {
  return {
    headers: request.headers,
    host: request.headers.host ?? request.hostname,
    protocol: request.protocol === 'https' ? 'https' : 'http',
    ip: request.ip,
    connection: request.raw.socket,
  };
}
