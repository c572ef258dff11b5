/**
 * A proxy repository's upstream side, kept across reloads while its remote is unchanged (proxy.ts
 * leases it under {@link clientIdentity}): the upstream client, the negative cache and the
 * single-flight tables; and the `credential` label its metrics carry.
 */
import { createHash } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import { canonicalJson, type ProxyRepositoryPlan, type SecretRef } from '../../../compiler/plan.ts';
import type { ProxyObserver } from '../../events.ts';
import { readSecretOrLiteral, resolveSecret } from '../../secrets.ts';
import type { BlobInfo } from '../../storage/blob-store.ts';
import { UpstreamClient } from '../../upstream/client.ts';
import { type EndpointClient, UpstreamEndpoints } from '../../upstream/endpoints.ts';
import { SingleFlight } from '../../upstream/single-flight.ts';
import { NegativeCache } from './cache-records.ts';
import type { ManifestFetch } from './freshness.ts';

/** The `credential` label of a proxy's upstream: the user name as configured, never a secret value. */
export function credentialLabel(plan: ProxyRepositoryPlan): string {
  const username = plan.remote.auth?.username;
  if (username === undefined) return 'anonymous';
  return typeof username === 'string' ? username : `env:${username.env}`;
}

/**
 * What a proxy keeps across reloads while its remote is unchanged: the upstream client (pools,
 * token cache), the negative cache and the single-flight tables, so a fetch started before a
 * reload is joined by requests after it. Joiners always re-read their own store after the flight,
 * so sharing a flight with an instance on another blob store costs at most a second fetch.
 */
export interface ProxyUpstream {
  /** Its endpoints (`remote.mirrors` and `remote.url`), each with its own client and breaker. */
  readonly client: UpstreamEndpoints;
  readonly negative: NegativeCache;
  readonly manifestFlights: SingleFlight<ManifestFetch>;
  readonly blobFlights: SingleFlight<BlobInfo>;
}

/**
 * The identity of everything the upstream client is built from (reuse across reloads iff equal),
 * as a SHA-256 of it: the pool's key never holds the resolved credentials themselves.
 */
export function clientIdentity(plan: ProxyRepositoryPlan, env: NodeJS.ProcessEnv): string {
  const secret = (ref: SecretRef | string | undefined) =>
    ref === undefined ? null : (readSecretOrLiteral(ref, env) ?? null);
  const identity = canonicalJson({
    remote: plan.remote,
    httpProxy: plan.httpProxy,
    username: secret(plan.remote.auth?.username),
    password: secret(plan.remote.auth?.password),
    proxyPassword: secret(plan.httpProxy?.auth?.password),
    negativeCacheTtlMs: plan.negativeCacheTtlMs,
  });
  return createHash('sha256').update(identity).digest('hex');
}

export function createProxyUpstream(
  plan: ProxyRepositoryPlan,
  deps: {
    readonly env: NodeJS.ProcessEnv;
    readonly log: FastifyBaseLogger;
    readonly dispatcher?: import('undici').Dispatcher | undefined;
    readonly now?: (() => number) | undefined;
  },
  observer: ProxyObserver,
): ProxyUpstream {
  const auth = plan.remote.auth;
  // remote.auth goes to every endpoint; each endpoint's client caches its own tokens.
  const options = {
    credentials:
      auth === null
        ? null
        : {
            username: resolveSecret(auth.username, deps.env, `repository ${plan.name} remote.auth.username`),
            password: resolveSecret(auth.password, deps.env, `repository ${plan.name} remote.auth.password`),
          },
    timeoutMs: plan.remote.timeoutMs,
    httpProxy: plan.httpProxy,
    proxyPassword:
      plan.httpProxy?.auth == null
        ? undefined
        : resolveSecret(plan.httpProxy.auth.password, deps.env, `repository ${plan.name} httpProxy.auth.password`),
    log: deps.log,
    dispatcher: deps.dispatcher,
    observer: observer.upstream,
    ...(plan.remote.maxConcurrency === undefined ? {} : { maxConcurrency: plan.remote.maxConcurrency }),
  };
  const remote: EndpointClient = { role: 'remote', client: new UpstreamClient({ ...options, url: plan.remote.url }) };
  const mirrors = (plan.remote.mirrors ?? []).map(
    (url): EndpointClient => ({ role: 'mirror', client: new UpstreamClient({ ...options, url }) }),
  );
  const endpoints = plan.remote.mirrorsFirst === false ? [remote, ...mirrors] : [...mirrors, remote];
  return {
    client: new UpstreamEndpoints(endpoints, deps.now === undefined ? {} : { now: deps.now }),
    negative: new NegativeCache(plan.negativeCacheTtlMs, { now: deps.now ?? Date.now }),
    manifestFlights: new SingleFlight<ManifestFetch>(),
    blobFlights: new SingleFlight<BlobInfo>(),
  };
}
