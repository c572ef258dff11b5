/**
 * The root configuration schema: what `registry.config.ts` default-exports (through
 * `defineConfig`). `z.input` is what users write; `z.output` is the same with every default filled.
 */
import { z } from 'zod';
import { AuditSchema } from './audit.ts';
import { BlobStoreSchema, UploadTimeoutSchema } from './blob-store.ts';
import { GcSchema } from './gc.ts';
import { ListenerSchema } from './listener.ts';
import { MetricsSchema } from './metrics.ts';
import { NotificationSchema } from './notifications.ts';
import { positiveDuration } from './primitives.ts';
import { HttpProxySchema, RepositorySchema } from './repository.ts';
import { SecuritySchema } from './security.ts';

/**
 * How hot reloads run. A reload evaluates the config in a child process; one that has not
 * finished within `timeout` (a hung import, a busy loop) is killed and the reload fails, while the
 * old plan keeps serving. The serving plan's timeout applies, so a new value counts from the
 * reload after the one that brought it.
 */
export const ReloadSchema = z
  .strictObject({
    timeout: positiveDuration("give a duration longer than 0, such as '10s' (the default)")
      .default('10s')
      .describe('How long a reload may take to evaluate the config before it is killed and the reload fails'),
  })
  .describe('Hot reload settings');

/** The whole registry configuration. */
export const ConfigSchema = z
  .strictObject({
    $schema: z.string().optional().describe('Path or URL of config.schema.json, for editors'),
    blobStores: z
      .array(BlobStoreSchema)
      .default([{ name: 'default', type: 'file', path: './data' }])
      .describe('Where blobs live; default: one file store "default" at ./data'),
    repositories: z.array(RepositorySchema).default([]),
    listeners: z.array(ListenerSchema).default([]),
    security: SecuritySchema.default({
      realm: 'regctl',
      users: [],
      roles: {},
      token: { enabled: true, issuer: 'regctl', service: 'regctl', ttl: '5m' },
    }),
    reload: ReloadSchema.default({ timeout: '10s' }),
    uploadTimeout: UploadTimeoutSchema.default('1h').describe(
      'How long an upload may go without receiving bytes before it is abandoned and deleted; the default of every blob store (each may set its own)',
    ),
    httpProxy: HttpProxySchema.optional().describe('Outbound proxy for every proxy repository unless overridden'),
    metrics: MetricsSchema.optional(),
    audit: AuditSchema.optional(),
    notifications: z
      .array(NotificationSchema)
      .default([])
      .describe('Webhook endpoints notified of pushes, deletes, pulls'),
    gc: GcSchema.optional(),
    ui: z
      .boolean()
      .default(true)
      .describe(
        'The read-only web UI under /ui/ on every listener (repositories, tags, images, the plan, reload history); false turns it off (404)',
      ),
  })
  .describe('regctl registry configuration');

/** What users write. */
export type ConfigInput = z.input<typeof ConfigSchema>;
/** The validated config with defaults filled in. */
export type Config = z.output<typeof ConfigSchema>;
