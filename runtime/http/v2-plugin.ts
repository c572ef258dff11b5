/**
 * The OCI distribution v2 API of one listener, as an encapsulated fastify plugin.
 *
 * One wildcard route per URL shape (`/v2/*` and the Nexus-style `/repository/<repo>/v2/*`) takes
 * every method; the tail is decoded, parsed ({@link parseEndpoint}) and dispatched here, because
 * names contain slashes. Every request body is handed over as the raw stream (a content-type
 * parser for `*` that reads nothing), so blob uploads are never buffered; the manifest handler
 * reads its own bounded Buffer.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';
import type { EventSink } from '../events.ts';
import type { RegistryMetrics } from '../metrics/registry-metrics.ts';
import { RegistryError } from '../oci/errors.ts';
import { decodePath } from '../oci/names.ts';
import type { PlanHolder } from '../server/plan-holder.ts';
import { ApiCall } from './context.ts';
import { ALLOWED_METHODS, type Endpoint, parseEndpoint } from './endpoints.ts';
import { API_VERSION, API_VERSION_HEADER } from './headers.ts';
import { reportAuthFailure } from './observe.ts';
import { deleteBlob, getBlob } from './routes/blobs.ts';
import { listCatalog, listReferrers, listTags } from './routes/listing.ts';
import { deleteManifest, getManifest, putManifest } from './routes/manifests.ts';
import { cancelUpload, getUploadStatus, patchUpload, putUpload, startUpload } from './routes/uploads.ts';

export interface V2PluginOptions {
  readonly holder: PlanHolder;
  readonly listenerId: string;
  /** Where pushes, deletes, pulls and auth refusals are reported. */
  readonly sink?: EventSink;
  readonly metrics?: RegistryMetrics;
}

const METHODS: HTTPMethods[] = ['GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE'];

async function ping(call: ApiCall): Promise<void> {
  const principal = await call.state.access
    .authorize(call.auth, { base: true, ping: true, repositories: call.resolver.repositories })
    .catch((error: unknown) => {
      throw reportAuthFailure(call.sink, error, call.request);
    });
  if (principal.advertise !== undefined) call.reply.header('WWW-Authenticate', principal.advertise);
  call.reply.code(200).header('Content-Type', 'application/json; charset=utf-8');
  await call.reply.send(call.request.method === 'HEAD' ? undefined : '{}');
}

function dispatch(call: ApiCall, endpoint: Endpoint): Promise<void> {
  const method = call.request.method;
  switch (endpoint.kind) {
    case 'base':
      return ping(call);
    case 'catalog':
      return listCatalog(call);
    case 'manifest':
      if (method === 'PUT') return putManifest(call, endpoint.name, endpoint.reference);
      if (method === 'DELETE') return deleteManifest(call, endpoint.name, endpoint.reference);
      return getManifest(call, endpoint.name, endpoint.reference);
    case 'blob':
      if (method === 'DELETE') return deleteBlob(call, endpoint.name, endpoint.digest);
      return getBlob(call, endpoint.name, endpoint.digest);
    case 'uploads':
      return startUpload(call, endpoint.name);
    case 'upload':
      if (method === 'PATCH') return patchUpload(call, endpoint.name, endpoint.id);
      if (method === 'PUT') return putUpload(call, endpoint.name, endpoint.id);
      if (method === 'DELETE') return cancelUpload(call, endpoint.name, endpoint.id);
      return getUploadStatus(call, endpoint.name, endpoint.id);
    case 'tags':
      return listTags(call, endpoint.name);
    case 'referrers':
      return listReferrers(call, endpoint.name, endpoint.digest);
  }
}

/** Splits the raw URL into the routing prefix, the decoded tail after `/v2/`, and the query. */
function splitUrl(rawUrl: string): { prefix: string | undefined; tail: string; query: URLSearchParams } | undefined {
  const mark = rawUrl.indexOf('?');
  const path = mark === -1 ? rawUrl : rawUrl.slice(0, mark);
  const query = new URLSearchParams(mark === -1 ? '' : rawUrl.slice(mark + 1));
  const match = /^(?:\/repository\/([^/]+))?\/v2(?:\/(.*))?$/.exec(path);
  if (!match) return undefined;
  const prefix = match[1] === undefined ? undefined : decodePath(match[1]);
  return { prefix, tail: decodePath(match[2] ?? ''), query };
}

/** `405 UNSUPPORTED` with `Allow` when `endpoint` does not answer `method`. */
function methodRefusal(endpoint: Endpoint, method: string): RegistryError | undefined {
  const allowed = ALLOWED_METHODS[endpoint.kind];
  if (allowed.includes(method as HTTPMethods)) return undefined;
  return new RegistryError('UNSUPPORTED', {
    message: `${method} is not supported on this endpoint`,
    headers: { Allow: allowed.join(', ') },
  });
}

/**
 * The answer to a request the router found no route for, when its URL is a v2 endpoint: the
 * routes take only the API's methods, so OPTIONS, TRACE, PROPFIND … on `/v2/…` land in the
 * not-found handler, which asks here and answers `405 UNSUPPORTED` with `Allow`. Undefined for any
 * other URL (a 404). Throws `NAME_INVALID` for a path that cannot be percent-decoded.
 */
export function unroutedMethod(rawUrl: string, method: string): RegistryError | undefined {
  const parts = splitUrl(rawUrl);
  const endpoint = parts && parseEndpoint(parts.tail);
  return endpoint ? methodRefusal(endpoint, method) : undefined;
}

export async function v2Plugin(app: FastifyInstance, options: V2PluginOptions): Promise<void> {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, payload, done) => done(null, payload));

  const handler = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    reply.header(API_VERSION_HEADER, API_VERSION);
    const state = request.regctl?.lease.state ?? options.holder.state;
    const resolver = state.routes.get(options.listenerId);
    if (!resolver) throw new RegistryError('UNAVAILABLE', { message: 'this listener is being removed' });
    const parts = splitUrl(request.raw.url ?? request.url);
    const endpoint = parts && parseEndpoint(parts.tail);
    if (!parts || !endpoint) {
      throw new RegistryError('UNSUPPORTED', { status: 404, message: 'unknown API endpoint' });
    }
    if (request.regctl) request.regctl.route = endpoint.kind;
    const refusal = methodRefusal(endpoint, request.method);
    if (refusal) throw refusal;
    const call = new ApiCall({
      request,
      reply,
      state,
      resolver,
      query: parts.query,
      prefix: parts.prefix,
      ...(options.sink === undefined ? {} : { sink: options.sink }),
      ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
    });
    await dispatch(call, endpoint);
  };

  for (const url of [
    '/v2',
    '/v2/',
    '/v2/*',
    '/repository/:repo/v2',
    '/repository/:repo/v2/',
    '/repository/:repo/v2/*',
  ]) {
    app.route({ method: METHODS, url, handler });
  }
}
