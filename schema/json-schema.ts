import { z } from 'zod';
import { ConfigSchema } from './config.ts';

/**
 * The JSON Schema (draft 2020-12) of what users write, for editors and YAML/JSON configs.
 * Emitted in `input` mode: fields with defaults are optional, as users see them.
 */
export function toConfigJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(ConfigSchema, { io: 'input', target: 'draft-2020-12' }) as Record<string, unknown>;
  return { ...schema, title: 'regctl configuration' };
}
