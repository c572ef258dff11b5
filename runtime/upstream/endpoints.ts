/**
 * The upstream of a proxy repository as an ordered list of endpoints: its `remote.mirrors` and
 * its `remote.url` (mirrors first unless `remote.mirrorsFirst: false`), each an
 * {@link UpstreamClient} of its own (pools, token cache, health, `maxConcurrency` slots) behind
 * a {@link CircuitBreaker}. Each call tries the endpoints in order:
 *
 * - an endpoint whose breaker is open (it failed lately) is skipped; one that rate-limited us is
 *   never asked before the time its `Retry-After` gave;
 * - a failure (no connection, a timeout, a 5xx, a 429, refused credentials, a bad answer) moves
 *   on to the next endpoint and opens that endpoint's breaker; so does a 404 or 401/403 (the
 *   mirror may lack the image), which does not count against the endpoint;
 * - when no endpoint could be asked and none answered, the skipped open ones are asked anyway, in
 *   order: a repository whose every endpoint failed lately keeps trying them rather than failing
 *   without asking (with one endpoint, every request asks it, as before mirrors existed).
 *
 * What the caller gets when no endpoint served: "not found" (or "no access") only when every
 * endpoint said so; otherwise the failure, so a cached copy is served stale: when every failing
 * endpoint rate-limits us, the 429 with the soonest retry time, else the first other failure
 * (naming each endpoint's reason when several failed).
 *
 * Digests are verified by the callers (freshness.ts, stream-through.ts) whichever endpoint
 * served. A blob body is streamed from the endpoint that answered its GET, and resumed from that
 * endpoint when its connection drops (`EndpointBlob.resume`): never spliced from another.
 */
import { CircuitBreaker, type CircuitBreakerOptions, type CircuitState } from './circuit-breaker.ts';
import type { UpstreamBlob, UpstreamClient, UpstreamHealth, UpstreamManifest } from './client.ts';
import { isUpstreamError, isUpstreamUnavailable, UpstreamError } from './errors.ts';

/** A blob body from one endpoint, and how to ask that same endpoint for the rest of it. */
export interface EndpointBlob extends UpstreamBlob {
  resume(headers: Record<string, string>): Promise<UpstreamBlob>;
}

/** Where an endpoint comes from in the config. */
export type EndpointRole = 'mirror' | 'remote';

/** One endpoint as {@link UpstreamEndpoints} is built from. */
export interface EndpointClient {
  readonly role: EndpointRole;
  readonly client: UpstreamClient;
}

/** What `/-/status` shows of each endpoint: its breaker and its health as last seen. */
export interface EndpointHealth extends UpstreamHealth {
  readonly url: string;
  readonly role: EndpointRole;
  readonly state: CircuitState;
  readonly consecutiveFailures: number;
  /** ISO time the endpoint is asked again, null while its breaker is closed. */
  readonly nextRetryAt: string | null;
  /** Requests in flight to it and waiting for a slot (`maxConcurrency`). */
  readonly inFlight: number;
  readonly queued: number;
}

interface Endpoint {
  readonly role: EndpointRole;
  readonly client: UpstreamClient;
  readonly breaker: CircuitBreaker;
}

/** See the module comment. */
export class UpstreamEndpoints {
  readonly #endpoints: readonly Endpoint[];
  readonly #remote: Endpoint;
  readonly #now: () => number;

  /** `endpoints` in the order they are tried, exactly one of them the `remote`. */
  constructor(endpoints: readonly EndpointClient[], options: CircuitBreakerOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#endpoints = endpoints.map(({ role, client }) => ({ role, client, breaker: new CircuitBreaker(options) }));
    const remote = this.#endpoints.find((endpoint) => endpoint.role === 'remote');
    if (remote === undefined) throw new Error('UpstreamEndpoints needs the remote endpoint');
    this.#remote = remote;
  }

  /** The remote URL's health (what `/-/status` showed before mirrors; a live object). */
  get health(): Readonly<UpstreamHealth> {
    return this.#remote.client.health;
  }

  /** Each endpoint's breaker and health, in the order they are tried (a snapshot). */
  get endpointHealth(): EndpointHealth[] {
    return this.#endpoints.map(({ role, client, breaker }) => {
      const retry = breaker.nextRetryAt;
      return {
        url: client.url,
        role,
        state: breaker.state,
        consecutiveFailures: breaker.failures,
        nextRetryAt: retry === null ? null : new Date(retry).toISOString(),
        inFlight: client.load.active,
        queued: client.load.queued,
        ...client.health,
      };
    });
  }

  headManifest(name: string, reference: string): ReturnType<UpstreamClient['headManifest']> {
    return this.#call((client) => client.headManifest(name, reference));
  }

  getManifest(name: string, reference: string): Promise<UpstreamManifest> {
    return this.#call((client) => client.getManifest(name, reference));
  }

  headBlob(name: string, digest: string): Promise<{ size: number }> {
    return this.#call((client) => client.headBlob(name, digest));
  }

  /**
   * The blob's body from the first endpoint that answered 200 (see the module comment), with
   * `resume` bound to that endpoint: a resumed body (blob-resume.ts) continues from the server
   * whose ETag and bytes it continues, never from another endpoint.
   */
  getBlob(name: string, digest: string): Promise<EndpointBlob> {
    return this.#call(async (client) => ({
      ...(await client.getBlob(name, digest)),
      resume: (headers: Record<string, string>) => client.getBlob(name, digest, headers),
    }));
  }

  listTags(name: string): Promise<string[]> {
    return this.#call((client) => client.listTags(name));
  }

  listReferrers(name: string, digest: string): Promise<unknown[]> {
    return this.#call((client) => client.listReferrers(name, digest));
  }

  /** Reports blob body bytes received (every endpoint reports to the repository's one observer). */
  blobBytes(count: number): void {
    this.#remote.client.blobBytes(count);
  }

  /** Closes every endpoint's pools. */
  async close(): Promise<void> {
    await Promise.all(this.#endpoints.map((endpoint) => endpoint.client.close()));
  }

  async #call<T>(work: (client: UpstreamClient) => Promise<T>): Promise<T> {
    const failures: UpstreamError[] = [];
    const answers: UpstreamError[] = [];
    const skipped: Endpoint[] = [];
    const attempt = async (endpoint: Endpoint): Promise<{ value: T } | undefined> => {
      try {
        const value = await work(endpoint.client);
        endpoint.breaker.succeeded();
        return { value };
      } catch (error) {
        if (!isUpstreamError(error)) {
          endpoint.breaker.failed();
          throw error;
        }
        const tagged = this.#tag(error, endpoint);
        if (error.code === 'UPSTREAM_RATE_LIMITED' && error.retryAfterSeconds !== undefined) {
          endpoint.breaker.rateLimitedUntil(this.#now() + error.retryAfterSeconds * 1000);
          failures.push(tagged);
        } else if (isUpstreamUnavailable(error)) {
          endpoint.breaker.failed();
          failures.push(tagged);
        } else {
          endpoint.breaker.succeeded();
          answers.push(tagged);
        }
        return undefined;
      }
    };
    for (const endpoint of this.#endpoints) {
      const admission = endpoint.breaker.admit();
      if (admission === 'rate-limited') failures.push(this.#waiting(endpoint));
      else if (admission === 'open') skipped.push(endpoint);
      else {
        const served = await attempt(endpoint);
        if (served !== undefined) return served.value;
      }
    }
    if (answers.length === 0) {
      for (const endpoint of skipped) {
        const served = await attempt(endpoint);
        if (served !== undefined) return served.value;
      }
    }
    throw this.#outcome(failures, answers);
  }

  /** The error the caller gets when no endpoint served (see the module comment). */
  #outcome(failures: UpstreamError[], answers: UpstreamError[]): UpstreamError {
    if (failures.length === 0) return answers[answers.length - 1]!;
    const others = failures.filter((failure) => failure.code !== 'UPSTREAM_RATE_LIMITED');
    if (others.length === 0) {
      return failures.reduce((soonest, failure) =>
        (failure.retryAfterSeconds ?? Number.POSITIVE_INFINITY) <
        (soonest.retryAfterSeconds ?? Number.POSITIVE_INFINITY)
          ? failure
          : soonest,
      );
    }
    const first = others[0]!;
    if (failures.length === 1) return first;
    const reasons = failures.map((failure) => `${failure.endpoint}: ${failure.reason}`).join('; ');
    return new UpstreamError(first.code, `${first.message} (${reasons})`, {
      status: first.status,
      reason: reasons,
      upstreamMessage: first.upstreamMessage,
      endpoint: `${this.#remote.client.url} and its mirrors`,
      cause: first,
    });
  }

  /** The failure of an endpoint that rate-limited us and may not be asked yet. */
  #waiting(endpoint: Endpoint): UpstreamError {
    const until = endpoint.breaker.nextRetryAt ?? this.#now();
    const seconds = Math.max(1, Math.ceil((until - this.#now()) / 1000));
    const at = new Date(until).toISOString();
    return new UpstreamError('UPSTREAM_RATE_LIMITED', `${endpoint.client.url}: rate limited (429) until ${at}`, {
      status: 429,
      retryAfterSeconds: seconds,
      retryAt: until,
      reason: `429 earlier; not asked again before ${at}`,
      endpoint: this.#label(endpoint),
    });
  }

  /** The error with the endpoint it came from, when the repository has more than one. */
  #tag(error: UpstreamError, endpoint: Endpoint): UpstreamError {
    if (this.#endpoints.length === 1) return error;
    return new UpstreamError(error.code, error.message, {
      status: error.status,
      retryAfterSeconds: error.retryAfterSeconds,
      ...(error.retryAt === undefined ? {} : { retryAt: error.retryAt }),
      reason: error.reason,
      upstreamMessage: error.upstreamMessage,
      endpoint: this.#label(endpoint),
      cause: error,
    });
  }

  /** How messages name an endpoint when there are several (`mirror http://…`); undefined with one. */
  #label(endpoint: Endpoint): string | undefined {
    if (this.#endpoints.length === 1) return undefined;
    return `${endpoint.role === 'mirror' ? 'mirror ' : ''}${endpoint.client.url}`;
  }
}
