/**
 * The audit log: one JSON line per push, delete, tag move, failed login, refused permission and
 * reload. `file` is a path relative to the config file, or `'stdout'`; the file is reopened on
 * SIGHUP, so logrotate can move it away.
 */
import { z } from 'zod';

export const AuditSchema = z
  .strictObject({
    file: z
      .string()
      .min(1)
      .describe('Where audit lines are appended: a path (relative to the config file) or "stdout"'),
  })
  .describe('Audit log of pushes, deletes, tag moves, failed logins, refusals and reloads');

export type AuditInput = z.input<typeof AuditSchema>;
export type AuditConfig = z.output<typeof AuditSchema>;
