/**
 * Secret references. A secret is never written into the config (which lives in git): the config
 * names the environment variable that holds it, and the runtime resolves it at start.
 */
import { z } from 'zod';

/** `{ env: 'NAME' }`: the value of environment variable NAME at runtime. */
export const SecretRefSchema = z
  .strictObject({
    env: z.string().min(1).describe('Name of the environment variable holding the secret, e.g. "CI_PASSWORD"'),
  })
  .describe('A secret read from an environment variable at runtime');

/** A value that may be written literally (not secret) or read from the environment. */
export const StringOrSecretSchema = z.union([z.string().min(1), SecretRefSchema]);

export type SecretRefInput = z.input<typeof SecretRefSchema>;
