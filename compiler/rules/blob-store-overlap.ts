import { isAbsolute, relative, resolve, sep } from 'node:path';
import type { BlobStoreConfig } from '../../schema/index.ts';
import { type Diagnostic, error } from '../diagnostics.ts';
import type { Rule } from './types.ts';

/**
 * Where a store keeps its data, as a list of segments to compare by prefix: a file store's folder
 * (resolved against the config's folder; without one, relative and absolute paths are compared
 * only among themselves), an S3 store's endpoint, bucket and key prefix. `undefined` when it
 * cannot be known before run time (a bucket from the environment).
 */
function location(store: BlobStoreConfig, configDir: string | undefined): string[] | undefined {
  if (store.type === 'file') {
    const base = configDir ?? (isAbsolute(store.path) ? sep : resolve(sep, '<config folder>'));
    return ['file', ...resolve(base, store.path).split(sep).filter(Boolean)];
  }
  if (typeof store.bucket !== 'string') return undefined;
  const endpoint = store.endpoint === undefined ? 'aws' : typeof store.endpoint === 'string' ? store.endpoint : '';
  if (endpoint === '') return undefined;
  return ['s3', endpoint.replace(/\/+$/, ''), store.bucket, ...store.prefix.split('/').filter(Boolean)];
}

const isPrefix = (a: readonly string[], b: readonly string[]) => a.length <= b.length && a.every((s, i) => s === b[i]);

/**
 * No two blob stores share storage: the same folder, one folder inside another, or the same
 * bucket with one key prefix inside another. Each store's layout assumes it owns its tree (its
 * temp files, upload sessions and metadata), so a shared one would be corrupted.
 */
export const blobStoreOverlap: Rule = (config, context) => {
  const out: Diagnostic[] = [];
  const seen: { name: string; where: string[] }[] = [];
  config.blobStores.forEach((store, index) => {
    const where = location(store, context.configDir);
    if (where === undefined) return;
    const clash = seen.find((other) => isPrefix(other.where, where) || isPrefix(where, other.where));
    if (clash) {
      const field = store.type === 'file' ? 'path' : 'prefix';
      const what =
        store.type === 'file'
          ? relative(clash.where.slice(1).join(sep), where.slice(1).join(sep)) === ''
            ? 'the same folder as'
            : 'a folder overlapping that of'
          : 'the same bucket and an overlapping prefix as';
      out.push(
        error(
          'blob-store-overlap',
          ['blobStores', index, field],
          `blob store \`${store.name}\` uses ${what} blob store \`${clash.name}\``,
          store.type === 'file'
            ? 'give each blob store its own folder, neither inside the other'
            : 'give each blob store its own bucket, or prefixes neither of which starts the other',
        ),
      );
    }
    seen.push({ name: store.name, where });
  });
  return out;
};
