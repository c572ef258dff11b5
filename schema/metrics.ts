/**
 * The Prometheus metrics listener: `metrics: { host, port }` serves `GET /metrics` on its own
 * socket, never on a registry listener. Absent: no metrics endpoint and no metrics recorded.
 */
import { z } from 'zod';

export const MetricsSchema = z
  .strictObject({
    host: z.string().min(1).default('127.0.0.1').describe('Address the metrics listener binds (default loopback)'),
    port: z.number().int().default(9464).describe('TCP port of the metrics listener, 1-65535 (default 9464)'),
  })
  .describe('Prometheus metrics on their own listener, path /metrics; off when absent');

export type MetricsInput = z.input<typeof MetricsSchema>;
export type MetricsConfig = z.output<typeof MetricsSchema>;
