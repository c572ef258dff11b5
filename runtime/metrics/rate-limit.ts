/**
 * The pull quota headers Docker Hub sends (`ratelimit-limit: 100;w=21600`,
 * `ratelimit-remaining: 97;w=21600`; the IETF RateLimit draft's older form): a count and, after
 * `;w=`, the window in seconds.
 */

export interface RateLimitValue {
  readonly value: number;
  /** The window in seconds, when the header names one. */
  readonly windowSeconds?: number;
}

/** Parses `97;w=21600` (or `97`); undefined for anything else. */
export function parseRateLimit(header: string | undefined): RateLimitValue | undefined {
  if (header === undefined) return undefined;
  const match = /^\s*(\d+)\s*(?:;\s*w\s*=\s*(\d+))?/.exec(header);
  if (match === null) return undefined;
  const value = Number(match[1]);
  if (!Number.isSafeInteger(value)) return undefined;
  return match[2] === undefined ? { value } : { value, windowSeconds: Number(match[2]) };
}
