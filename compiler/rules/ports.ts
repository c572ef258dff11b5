import { type Diagnostic, error } from '../diagnostics.ts';
import type { Rule } from './types.ts';

/** Listener ports are in 1–65535. */
export const ports: Rule = (config) => {
  const out: Diagnostic[] = [];
  config.listeners.forEach((listener, index) => {
    if (listener.port < 1 || listener.port > 65535) {
      out.push(error('invalid-port', ['listeners', index, 'port'], `port ${listener.port} is out of range 1-65535`));
    }
  });
  return out;
};
