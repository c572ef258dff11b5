/**
 * The CNCF distribution registry's notification envelope, so its existing consumers read regctl's
 * events unchanged: `{ events: [...] }` with media type
 * `application/vnd.docker.distribution.events.v1+json`, each event carrying `id`, `timestamp`,
 * `action`, `target` (`mediaType`, `digest`, `size`, `length`, `repository`, `url`, `tag`),
 * `request` (`id`, `addr`, `host`, `method`, `useragent`), `actor` (`name`) and `source`
 * (`addr`, `instanceID`).
 */
import { randomUUID } from 'node:crypto';
import type { ArtifactEvent } from '../events.ts';

export const ENVELOPE_MEDIA_TYPE = 'application/vnd.docker.distribution.events.v1+json';

/** One event of the envelope. */
export interface EnvelopeEvent {
  readonly id: string;
  readonly timestamp: string;
  readonly action: ArtifactEvent['action'];
  readonly target: {
    readonly mediaType?: string;
    readonly digest?: string;
    readonly size?: number;
    readonly length?: number;
    /** The name as clients pull it (routing prefix included). */
    readonly repository: string;
    readonly url?: string;
    readonly tag?: string;
  };
  readonly request: {
    readonly id: string;
    readonly addr: string;
    readonly host: string;
    readonly method: string;
    readonly useragent: string;
  };
  readonly actor: { readonly name?: string };
  readonly source: { readonly addr: string; readonly instanceID: string };
}

/** The process's identity in `source`: its host name and a random id per process. */
export interface EventSource {
  readonly addr: string;
  readonly instanceID: string;
}

export function createEventSource(addr: string): EventSource {
  return { addr, instanceID: randomUUID() };
}

/** The envelope event of a registry event. */
export function toEnvelopeEvent(event: ArtifactEvent, source: EventSource): EnvelopeEvent {
  const target = {
    ...(event.mediaType === undefined ? {} : { mediaType: event.mediaType }),
    ...(event.digest === undefined ? {} : { digest: event.digest }),
    ...(event.size === undefined ? {} : { size: event.size, length: event.size }),
    repository: event.name,
    ...(event.digest === undefined
      ? {}
      : {
          url: `${event.origin}/v2/${event.name}/${event.mediaType === 'application/octet-stream' ? 'blobs' : 'manifests'}/${event.digest}`,
        }),
    ...(event.tag === undefined ? {} : { tag: event.tag }),
  };
  return {
    id: randomUUID(),
    timestamp: new Date().toISOString(),
    action: event.action,
    target,
    request: {
      id: event.request.id,
      addr: event.request.addr,
      host: event.request.host,
      method: event.request.method,
      useragent: event.request.userAgent,
    },
    actor: event.user === null ? {} : { name: event.user },
    source,
  };
}
