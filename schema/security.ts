/**
 * Security schema: users, roles and the token service. Passwords are never plaintext: a bcrypt
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

/** Users, roles and tokens. */
export const SecuritySchema = z.strictObject({
  realm: z.string().min(1).default('regctl').describe('Basic realm shown in challenges'),
  users: z.array(UserSchema).default([]),
  roles: z.record(NameSchema, z.array(PermissionSchema)).default({}),
  token: TokenSchema.default({ enabled: true, issuer: 'regctl', service: 'regctl', ttl: '5m' }),
});

export type SecurityInput = z.input<typeof SecuritySchema>;
export type SecurityConfig = z.output<typeof SecuritySchema>;
export type UserConfig = z.output<typeof UserSchema>;
