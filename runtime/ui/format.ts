/**
 * Small formatting helpers of the UI's pages: sizes, times, digests, and the URLs of its pages
 * (each path segment percent-encoded; an image name's slashes kept as the separators they are).
 */
import { formatBytes as formatGcBytes } from '../gc/format-report.ts';
import type { Digest } from '../storage/blob-store.ts';

/** Bytes as `1.5 MiB` (as `regctl gc` prints them), or a dash when unknown. */
export function formatBytes(bytes: number | undefined): string {
  return bytes === undefined || !Number.isFinite(bytes) ? '—' : formatGcBytes(bytes);
}

/** Epoch ms as `2026-01-02 03:04 UTC`, or a dash. */
export function formatTime(ms: number | string | undefined): string {
  if (ms === undefined) return '—';
  const date = new Date(ms);
  if (Number.isNaN(date.getTime())) return '—';
  return `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** The machine-readable form for `<time datetime>`. */
export function isoTime(ms: number | string): string {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? '' : date.toISOString();
}

/** `sha256:0123456789ab` (algorithm and the first 12 hex digits). */
export function shortDigest(digest: Digest): string {
  const colon = digest.indexOf(':');
  return colon === -1 ? digest.slice(0, 12) : digest.slice(0, colon + 13);
}

/** A share as `87 %` (of `total`), or a dash for nothing counted. */
export function formatRatio(part: number, total: number): string {
  return total === 0 ? '—' : `${Math.round((part / total) * 100)} %`;
}

const segment = (value: string) => encodeURIComponent(value);
const imagePath = (image: string) => image.split('/').map(segment).join('/');

/** The URLs of the UI's pages. */
export const urls = {
  home: '/ui/',
  search: (q: string) => `/ui/search?q=${encodeURIComponent(q)}`,
  plan: '/ui/plan',
  reloads: '/ui/reloads',
  login: '/ui/login',
  logout: '/ui/logout',
  repository: (repository: string) => `/ui/r/${segment(repository)}`,
  tags: (repository: string, image: string) => `/ui/r/${segment(repository)}/${imagePath(image)}/-/tags`,
  tag: (repository: string, image: string, tag: string) =>
    `/ui/r/${segment(repository)}/${imagePath(image)}/-/tag/${segment(tag)}`,
  manifest: (repository: string, image: string, digest: Digest) =>
    `/ui/r/${segment(repository)}/${imagePath(image)}/-/m/${segment(digest)}`,
  blob: (repository: string, image: string, manifest: Digest, digest: Digest) =>
    `/ui/r/${segment(repository)}/${imagePath(image)}/-/m/${segment(manifest)}/blob/${segment(digest)}`,
};

/** A query string of `params` (undefined values left out), with its `?`, or ''. */
export function query(params: Record<string, string | number | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== undefined) search.set(key, String(value));
  const text = search.toString();
  return text === '' ? '' : `?${text}`;
}
