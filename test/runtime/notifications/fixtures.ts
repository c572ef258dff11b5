/** A webhook endpoint plan for the notification unit tests: small queue and timeouts, every event. */
import type { NotificationPlan } from '../../../compiler/plan.ts';

export function notificationPlan(
  name: string,
  url: string,
  overrides: Partial<NotificationPlan> = {},
): NotificationPlan {
  return {
    name,
    url,
    events: ['push', 'delete', 'pull'],
    repositories: ['*'],
    headers: {},
    timeoutMs: 2000,
    queueSize: 100,
    maxAttempts: 3,
    ...overrides,
  };
}
