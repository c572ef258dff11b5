import { type Diagnostic, warning } from '../diagnostics.ts';
import type { Rule } from './types.ts';

/**
 * A path prefix on a listener that also has a default repository takes every image whose first
 * segment equals it: `host/<prefix>/app` can no longer reach image `<prefix>/app` of the default
 * repository. Worth a warning when images could be pushed there (a hosted or writable group default).
 */
export const pathShadowing: Rule = (config) => {
  const out: Diagnostic[] = [];
  const byName = new Map(config.repositories.map((r) => [r.name, r] as const));
  config.listeners.forEach((listener, index) => {
    if (listener.repository === undefined) return;
    const target = byName.get(listener.repository);
    const writable = target?.type === 'hosted' || (target?.type === 'group' && target.writableMember !== undefined);
    if (!writable) return;
    const prefixes = Array.isArray(listener.paths)
      ? listener.paths.map((p, i) => [p, i] as const)
      : Object.keys(listener.paths).map((p) => [p, p] as const);
    for (const [prefix, key] of prefixes) {
      out.push(
        warning(
          'path-shadows-images',
          ['listeners', index, 'paths', key],
          `path prefix \`${prefix}\` shadows images named \`${prefix}/…\` in default repository \`${listener.repository}\` on this listener`,
          `do not push images whose name starts with \`${prefix}/\`, or use a virtual host instead`,
        ),
      );
    }
  });
  return out;
};
