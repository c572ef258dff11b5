/**
 * Compiles the observability sections of a checked config: `metrics`, `audit`, `notifications`.
 * Each is left out of the plan when the config has none, so a config without them keeps its plan id.
 */
import { type Config, parseDuration } from '../schema/index.ts';
import { AUDIT_STDOUT, type AuditPlan, type MetricsPlan, type NotificationPlan } from './plan-observability.ts';

/** The name of a notification endpoint: its own, else its URL's host:port. */
export function notificationName(notification: { name?: string | undefined; url: string }): string {
  if (notification.name !== undefined) return notification.name;
  try {
    return new URL(notification.url).host;
  } catch {
    return notification.url;
  }
}

export function compileObservability(
  config: Config,
  abs: (path: string) => string,
): { metrics?: MetricsPlan; audit?: AuditPlan; notifications?: NotificationPlan[] } {
  const out: { metrics?: MetricsPlan; audit?: AuditPlan; notifications?: NotificationPlan[] } = {};
  if (config.metrics) out.metrics = { host: config.metrics.host, port: config.metrics.port };
  if (config.audit) out.audit = { file: config.audit.file === AUDIT_STDOUT ? AUDIT_STDOUT : abs(config.audit.file) };
  if (config.notifications.length > 0) {
    out.notifications = config.notifications.map((notification) => ({
      name: notificationName(notification),
      url: notification.url,
      events: [...new Set(notification.events)].sort(),
      repositories: [...notification.repositories],
      headers: Object.fromEntries(Object.entries(notification.headers).sort(([a], [b]) => (a < b ? -1 : 1))),
      timeoutMs: parseDuration(notification.timeout),
      queueSize: notification.queueSize,
      maxAttempts: notification.maxAttempts,
    }));
  }
  return out;
}
