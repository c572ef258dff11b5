/**
 * Webhook notifications: each endpoint gets the CNCF distribution registry's event envelope for the
 * events and repositories it asks for. Delivery is asynchronous (a bounded queue per endpoint,
 * retries with backoff) and never delays or fails a registry request.
 */
import { z } from 'zod';
import { DurationSchema, NameSchema, parseDuration } from './primitives.ts';
import { StringOrSecretSchema } from './secret.ts';

/** The events an endpoint can subscribe to. */
export const NotificationEventSchema = z.enum(['push', 'delete', 'pull']);

export const NotificationSchema = z
  .strictObject({
    name: NameSchema.optional().describe(
      'Name in metrics and logs (default: the URL host:port); unique among the notifications',
    ),
    url: z.string().min(1).describe('http(s) URL the events are POSTed to'),
    events: z
      .array(NotificationEventSchema)
      .min(1, 'must name at least one event')
      .default(['push', 'delete'])
      .describe('Which events to send: push, delete, pull (default push and delete)'),
    repositories: z
      .array(z.string().min(1))
      .min(1, 'must name at least one repository or glob')
      .default(['*'])
      .describe('Repository names or globs (`team-*`) whose events are sent (default every repository)'),
    headers: z
      .record(z.string().min(1), StringOrSecretSchema)
      .default({})
      .describe('Extra request headers; secrets as { env: NAME }'),
    timeout: DurationSchema.refine((value) => parseDuration(value) > 0, 'must be longer than 0')
      .default('5s')
      .describe('How long one delivery attempt may take'),
    queueSize: z
      .number()
      .int()
      .min(1)
      .max(100_000)
      .default(1000)
      .describe('Events held for this endpoint while it is slow or down; beyond it new events are dropped'),
    maxAttempts: z
      .number()
      .int()
      .min(1)
      .max(100)
      .default(10)
      .describe('Delivery attempts of a batch (backoff 1 s doubling to 60 s) before it is dropped'),
  })
  .describe('A webhook endpoint');

export type NotificationInput = z.input<typeof NotificationSchema>;
export type NotificationConfig = z.output<typeof NotificationSchema>;
