/**
 * Security schema: users, roles, the token service and the login throttle. Passwords are never plaintext: a bcrypt
 * hash (safe in git) or a reference to an environment variable.
 */
import { z } from 'zod';
import { ActionSchema, DurationSchema, NameSchema } from './primitives.ts';
import { SecretRefSchema } from './secret.ts';

/** A grant: actions on repositories (names or globs such as `docker-*`). */
export const PermissionSchema = z.strictObject({
  repositories: z.array(z.string().min(1)).min(1).describe('Repository names or globs ("*" matches any run)'),
  actions: z.array(ActionSchema).min(1),
});

/** A user able to log in with HTTP Basic or a token. */
export const UserSchema = z.strictObject({
  name: NameSchema,
  password: z
    .union([
      z.strictObject({ bcrypt: z.string().min(1).describe('A bcrypt hash, e.g. from `htpasswd -nbB`') }),
      SecretRefSchema,
    ])
    .describe('A bcrypt hash, or { env } naming the variable holding the password (never plaintext)'),
  roles: z.array(NameSchema).default([]),
});

/** The Docker token service (`GET /-/token`). */
export const TokenSchema = z.strictObject({
  enabled: z.boolean().default(true),
  issuer: z.string().min(1).default('regctl'),
  service: z.string().min(1).default('regctl'),
  ttl: DurationSchema.default('5m'),
  signingKey: SecretRefSchema.optional().describe('HMAC key shared by replicas; omit for a random key per process'),
});

/** One token bucket of failed logins. */
export const LoginBucketSchema = z.strictObject({
  burst: z.number().int().min(1).max(10_000).describe('Failed logins allowed at once, before any wait'),
  perMinute: z.number().positive().max(60_000).describe('Failed logins allowed per minute after the burst'),
});

/**
 * Throttling of failed logins (Basic on any request, and `GET /-/token`): over the limits a
 * password check is refused with 429 and `Retry-After` instead of running.
 */
export const LoginThrottleSchema = z.strictObject({
  enabled: z.boolean().default(true),
  perAddress: LoginBucketSchema.default({ burst: 30, perMinute: 10 }).describe(
    'Failed logins per client address (IPv6: per /64 prefix)',
  ),
  perUser: LoginBucketSchema.default({ burst: 10, perMinute: 5 }).describe(
    'Failed logins per user name as sent, whether that user exists or not',
  ),
  maxBackoff: DurationSchema.default('15m').describe(
    'Each failure that empties a bucket doubles its refill interval, up to this',
  ),
  maxTracked: z
    .number()
    .int()
    .min(100)
    .max(1_000_000)
    .default(10_000)
    .describe('Most addresses and most user names remembered at once (least recently used dropped)'),
});

/** Users, roles and tokens. */
export const SecuritySchema = z.strictObject({
  realm: z.string().min(1).default('regctl').describe('Basic realm shown in challenges'),
  users: z.array(UserSchema).default([]),
  roles: z.record(NameSchema, z.array(PermissionSchema)).default({}),
  token: TokenSchema.default({ enabled: true, issuer: 'regctl', service: 'regctl', ttl: '5m' }),
  // Optional rather than defaulted: a config without a `security` section gets the config
  // schema's default for it, which does not list this field; the compiler applies the defaults.
  loginThrottle: LoginThrottleSchema.optional().describe(
    'Throttling of failed logins per address and per user name; left out: on, every field at its default',
  ),
});

/** `security.loginThrottle` when the config leaves it out: every field at its default. */
export const LOGIN_THROTTLE_DEFAULTS: z.output<typeof LoginThrottleSchema> = Object.freeze(
  LoginThrottleSchema.parse({}),
);

export type SecurityInput = z.input<typeof SecuritySchema>;
export type SecurityConfig = z.output<typeof SecuritySchema>;
export type UserConfig = z.output<typeof UserSchema>;
