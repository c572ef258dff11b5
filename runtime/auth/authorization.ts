/**
 * Reading an `Authorization` value's scheme and credentials (RFC 7235 §2.1: a scheme name, at
 * least one space, the credentials).
 *
 * {@link credentialsAfter} is the per-request step: it checks the scheme and slices, without a
 * regular expression or a scan of the credentials, so a 500-byte Bearer token costs the same to
 * read as a 40-byte Basic pair. It does not judge the credentials' characters: the strict checks
 * ({@link isBasicCredentials}, {@link isBearerToken}) run once per credential, before anything
 * verified about it is cached, so a value that fails them never finds a cached verdict.
 */

/** The schemes the registry reads, in lower case. */
type AuthScheme = 'basic' | 'bearer';

const SPACE = 0x20;
const TAB = 0x09;
/** ORed into an ASCII letter's code, gives its lower case (and leaves a lower-case letter as is). */
const LOWER = 0x20;

/**
 * The credentials of `value` when its scheme is `scheme` (compared ignoring ASCII case) followed
 * by at least one space or tab: the rest of the value without its trailing spaces and tabs
 * (possibly empty). Undefined when the value is of another scheme.
 */
export function credentialsAfter(value: string, scheme: AuthScheme): string | undefined {
  const length = value.length;
  const name = scheme.length;
  if (length <= name) return undefined;
  for (let i = 0; i < name; i++) {
    if ((value.charCodeAt(i) | LOWER) !== scheme.charCodeAt(i)) return undefined;
  }
  let start = name;
  while (start < length && isBlank(value.charCodeAt(start))) start++;
  if (start === name) return undefined;
  let end = length;
  while (end > start && isBlank(value.charCodeAt(end - 1))) end--;
  return end === length ? value.slice(start) : value.slice(start, end);
}

/** True for the space and the tab, the only blanks RFC 7230 allows around header parts. */
function isBlank(code: number): boolean {
  return code === SPACE || code === TAB;
}

/**
 * True when the Basic credentials are an empty user name and password (`:`, base64 `Og==`): what
 * containers/image (skopeo, podman, buildah) sends with no credentials configured once the ping
 * answered with a Basic challenge. It names nobody, so it is an anonymous request, not a login.
 */
export function isEmptyBasicPair(credentials: string): boolean {
  return credentials === 'Og==' || credentials === 'Og';
}

/** True when `credentials` (after `Basic`) holds only base64 characters (and the `._-` some clients send). */
export function isBasicCredentials(credentials: string): boolean {
  return /^[A-Za-z0-9+/=._-]*$/.test(credentials);
}

/** True when `token` (after `Bearer`) is one non-empty run without white space. */
export function isBearerToken(token: string): boolean {
  return /^\S+$/.test(token);
}
