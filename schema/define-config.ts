import type { ConfigInput } from './config.ts';

/**
 * Identity helper that gives `registry.config.ts` type checking and editor completion:
 * `export default defineConfig({ ... })`. Validation happens in the compiler, not here, so a
 * config module never throws at import time.
 */
export function defineConfig(config: ConfigInput): ConfigInput {
  return config;
}
