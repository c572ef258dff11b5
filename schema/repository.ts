/**
 * Repository schemas, after Nexus 3's docker repositories: `hosted` (stores what is pushed),
 * `proxy` (pull-through cache of a remote registry) and `group` (an ordered union of members).
 */
import { z } from 'zod';
import { CapSchema, CleanupRuleSchema } from './gc.ts';
import { ActionSchema, DurationSchema, NameSchema, positiveDuration } from './primitives.ts';
import { SecretRefSchema, StringOrSecretSchema } from './secret.ts';

/** An outbound HTTP(S) proxy for reaching upstream registries. */
export const HttpProxySchema = z.strictObject({
  url: z
    .string()
    .min(1)
    .describe(
      'http(s)://host:port of an HTTP proxy, or socks5://host:port (regctl resolves names) or socks5h://host:port (the proxy resolves them); without credentials',
    ),
  auth: z.strictObject({ username: z.string().min(1), password: SecretRefSchema }).optional(),
  noProxy: z
    .array(z.string().min(1))
    .default([])
    .describe('Hosts or suffixes (".example.com") or "*" to reach directly'),
});

const common = {
  name: NameSchema.describe('Repository name: an OCI name component, unique'),
  online: z.boolean().default(true).describe('An offline repository answers every request with 503'),
  blobStore: NameSchema.default('default').describe('Name of the blob store holding this repository'),
  anonymous: z
    .array(ActionSchema)
    .default([])
    .describe('What anonymous clients may do; [] (the default) forces authentication'),
};

/** Stores images pushed to it. */
export const HostedRepositorySchema = z.strictObject({
  ...common,
  type: z.literal('hosted'),
  deploymentPolicy: z
    .enum(['allowRedeploy', 'disableRedeploy', 'readOnly'])
    .default('allowRedeploy')
    .describe('allowRedeploy: tags may move; disableRedeploy: a tag once set is immutable; readOnly: no push'),
  cleanup: z
    .array(CleanupRuleSchema)
    .optional()
    .describe('Cleanup rules: tags garbage collection deletes (a tag goes when any rule deletes it)'),
  quota: CapSchema.optional().describe(
    'Most bytes the repository may hold (each blob counted once); a push over it is refused with DENIED',
  ),
});

/** Images a proxy keeps cached by itself (docs/configuration.md "Declared prefetch"). */
export const PrefetchSchema = z
  .strictObject({
    images: z
      .union([
        z.array(z.string().min(1)).min(1, 'list at least one image, or leave prefetch out'),
        z.strictObject({
          file: z
            .string()
            .min(1)
            .describe('A file of image references, one a line (# comments), relative to the config file'),
        }),
      ])
      .describe('Image references as clients name them in this repository: name[:tag] or name@digest'),
    interval: positiveDuration('e.g. "6h"; leave prefetch out to not prefetch')
      .default('6h')
      .describe('How often the images are pulled through again (their tags revalidated); also once at start'),
  })
  .describe('Images pulled through the proxy at start and every interval, without any client');

/** Pull-through cache of a remote registry. */
export const ProxyRepositorySchema = z.strictObject({
  ...common,
  type: z.literal('proxy'),
  remote: z.strictObject({
    url: z.string().min(1).describe('Absolute http(s) URL of the remote registry, without credentials'),
    index: z
      .enum(['docker-hub', 'registry'])
      .optional()
      .describe('docker-hub maps "alpine" to "library/alpine"; default docker-hub for Docker Hub hosts, else registry'),
    auth: z
      .strictObject({ username: StringOrSecretSchema, password: SecretRefSchema })
      .optional()
      .describe('Credentials for the remote registry'),
    timeout: DurationSchema.default('60s').describe('Timeout of one upstream request'),
    mirrors: z
      .array(z.string().min(1))
      .optional()
      .describe(
        'Absolute http(s) URLs of mirrors of the remote, without credentials, tried in order before url ' +
          '(after it with mirrorsFirst: false); a failing one is skipped for a back-off period',
      ),
    mirrorsFirst: z.boolean().default(true).describe('Try the mirrors before url (true) or after it (false)'),
    maxConcurrency: z
      .number()
      .int()
      .positive()
      .optional()
      .describe('Most requests in flight to one upstream endpoint at once; more wait their turn (default unlimited)'),
  }),
  metadataMaxAge: DurationSchema.default('24h').describe('How long a cached tag is trusted before revalidation'),
  negativeCacheTtl: DurationSchema.default('24h').describe('How long an upstream "not found" is remembered'),
  offline: z.boolean().default(false).describe('Serve only what is cached; never contact the remote'),
  maxSize: CapSchema.optional().describe(
    'Most bytes the cache may hold; over it, the least recently pulled content is evicted in the background',
  ),
  httpProxy: z
    .union([HttpProxySchema, z.literal(false)])
    .optional()
    .describe('Outbound proxy for this repository; false = none even if a global one is set'),
  prefetch: PrefetchSchema.optional(),
});

/** An ordered union of other repositories. */
export const GroupRepositorySchema = z.strictObject({
  ...common,
  type: z.literal('group'),
  members: z.array(NameSchema).min(1, 'a group needs at least one member').describe('Members, asked in order'),
  writableMember: NameSchema.optional().describe('Hosted member receiving pushes made through the group'),
});

/** Any repository, discriminated on `type`. */
export const RepositorySchema = z.discriminatedUnion('type', [
  HostedRepositorySchema,
  ProxyRepositorySchema,
  GroupRepositorySchema,
]);

export type RepositoryInput = z.input<typeof RepositorySchema>;
export type RepositoryConfig = z.output<typeof RepositorySchema>;
export type HttpProxyConfig = z.output<typeof HttpProxySchema>;
