/**
 * `regctl rm REPOSITORY/IMAGE:TAG` or `REPOSITORY/IMAGE@DIGEST`: deletes a tag (the manifest
 * stays, reachable by digest and by other tags) or a manifest by digest (and with it every tag
 * pointing at it), through the registry's own API (`DELETE /repository/<repo>/v2/<image>/manifests/
 * <reference>`), so its access rules and deployment policy apply: a `disableRedeploy` repository
 * refuses to delete a tag, a proxy refuses every delete. The first path segment is the regctl
 * repository, as `regctl ls` prints it. Blobs are not removed here: that is garbage collection.
 */
import { isDigest } from '../runtime/oci/digest.ts';
import { isValidName, isValidTag } from '../runtime/oci/names.ts';
import { fetchRepositories } from './inventory.ts';
import {
  ClientUsageError,
  connectRegistry,
  describeRefusal,
  describeRegistryFailure,
  openRegistryClient,
  type TargetOptions,
} from './target.ts';

/** The registry answered, and said no. */
class RefusedError extends Error {}

export interface RemoveTarget {
  readonly repository: string;
  readonly image: string;
  readonly reference: string;
  readonly kind: 'tag' | 'digest';
}

/** Parses `REPOSITORY/IMAGE:TAG` or `REPOSITORY/IMAGE@DIGEST`; a usage error says what is wrong. */
export function parseRemoveTarget(value: string): RemoveTarget {
  const usage = `expected REPOSITORY/IMAGE:TAG or REPOSITORY/IMAGE@DIGEST (as regctl ls prints them), got ${JSON.stringify(value)}`;
  const slash = value.indexOf('/');
  if (slash <= 0) throw new ClientUsageError(usage);
  const repository = value.slice(0, slash);
  const rest = value.slice(slash + 1);
  const at = rest.indexOf('@');
  const colon = rest.lastIndexOf(':');
  const [image, reference, kind] =
    at !== -1
      ? [rest.slice(0, at), rest.slice(at + 1), 'digest' as const]
      : colon > rest.lastIndexOf('/')
        ? [rest.slice(0, colon), rest.slice(colon + 1), 'tag' as const]
        : [rest, '', 'tag' as const];
  if (reference === '') throw new ClientUsageError(`${usage}: name the tag or digest to remove`);
  if (!isValidName(image)) throw new ClientUsageError(`${JSON.stringify(image)} is not an image name`);
  if (kind === 'digest' ? !isDigest(reference) : !isValidTag(reference))
    throw new ClientUsageError(`${JSON.stringify(reference)} is not a ${kind === 'digest' ? 'digest' : 'tag'}`);
  return { repository, image, reference, kind };
}

/** Deletes the tag or manifest; resolves with what was removed, throws with the registry's reason. */
export async function removeReference(target: RemoveTarget, options: TargetOptions & { timeoutMs?: number }) {
  const { registry, credentials, client: root } = await connectRegistry(options);
  try {
    const repositories = await fetchRepositories(root);
    if (!repositories.some((r) => r.name === target.repository)) {
      const names = repositories.map((r) => r.name).join(', ');
      throw new ClientUsageError(`no repository ${target.repository} in the registry at ${registry} (it has ${names})`);
    }
  } catch (error) {
    if (error instanceof ClientUsageError) throw error;
    throw new Error(describeRegistryFailure(error, registry, credentials), { cause: error });
  } finally {
    await root.close();
  }
  const client = openRegistryClient(
    `${registry}/repository/${encodeURIComponent(target.repository)}`,
    credentials,
    options.timeoutMs,
  );
  try {
    const response = await client.request({
      method: 'DELETE',
      path: `v2/${target.image}/manifests/${target.reference}`,
    });
    const chunks: Buffer[] = [];
    for await (const chunk of response.body) chunks.push(chunk as Buffer);
    if (response.status === 202 || response.status === 200) return { registry, ...target };
    const body = Buffer.concat(chunks).toString('utf8');
    throw new RefusedError(
      describeRefusal(`deleting ${target.reference} of ${target.image}`, response.status, body, registry, credentials),
    );
  } catch (error) {
    if (error instanceof RefusedError) throw error;
    throw new Error(describeRegistryFailure(error, registry, credentials), { cause: error });
  } finally {
    await client.close();
  }
}
