/**
 * Backend URLs and messages as users see them: never with a password. Every place that quotes a
 * backend URL goes through `redactUrl`; messages that may quote one (a driver's error, a
 * failure shown by the CLI) go through `redactSecrets`.
 */

/** Query parameters that carry a secret (`?password=`, `?sslpassword=`, `?token=`...). */
const SECRET_PARAM = /pass|secret|token/i;
const HIDDEN = '***';

/** The URL with its password and secret query parameters replaced by `***` (also when it does not parse). */
export function redactUrl(url: string): string {
  const parsed = parseWithCredentials(url);
  if (parsed === null) return redactUnparsable(url);
  if (parsed.password !== '') parsed.password = HIDDEN;
  for (const key of [...parsed.searchParams.keys()]) {
    if (SECRET_PARAM.test(key)) parsed.searchParams.set(key, HIDDEN);
  }
  return parsed.toString().replaceAll('=%2A%2A%2A', `=${HIDDEN}`);
}

/**
 * The URL, parsed, or null when it does not parse or parses wrong: a password holding "/",
 * "?" or "#" unencoded ("postgres://u:12/x@host") may parse as a port and a path, leaving the
 * rest of the password where no credential is looked for.
 */
function parseWithCredentials(url: string): URL | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return null;
  }
  const afterScheme = url.indexOf('://');
  if (parsed.username === '' && parsed.password === '' && afterScheme >= 0 && url.includes('@', afterScheme)) return null;
  return parsed;
}

/** Where the password of an unparsable URL may be: from the first ":" of the user info to the last "@". */
function passwordSpan(url: string): [number, number] | null {
  const start = url.indexOf('://') + 3;
  const at = url.lastIndexOf('@');
  const colon = url.indexOf(':', start);
  if (start < 3 || at < start || colon < 0 || colon > at) return null;
  return [colon + 1, at];
}

const SECRET_QUERY = /([?&#][^=&#]*(?:pass|secret|token)[^=&#]*=)([^&#]*)/gi;

/** A URL that does not parse: hide all that may be password, over-hiding rather than showing any. */
function redactUnparsable(url: string): string {
  const span = passwordSpan(url);
  const hidden = span === null ? url : `${url.slice(0, span[0])}${HIDDEN}${url.slice(span[1])}`;
  return hidden.replace(SECRET_QUERY, `$1${HIDDEN}`);
}

/**
 * The secrets a backend URL (and DeFlow's Redis connection password) holds, as they may appear
 * in a message: raw, percent-decoded and percent-encoded.
 */
export function secretsOf(url: string | undefined, password?: unknown): string[] {
  const found: string[] = [];
  if (typeof password === 'string') found.push(password);
  if (url !== undefined) {
    const parsed = parseWithCredentials(url);
    if (parsed !== null) {
      if (parsed.password !== '') found.push(parsed.password);
      for (const [key, value] of parsed.searchParams) if (SECRET_PARAM.test(key) && value !== '') found.push(value);
    } else {
      const span = passwordSpan(url);
      if (span !== null) found.push(url.slice(span[0], span[1]));
      for (const match of url.matchAll(SECRET_QUERY)) if (match[2] !== undefined && match[2] !== '') found.push(match[2]);
    }
  }
  const variants = new Set<string>();
  for (const secret of found) {
    variants.add(secret);
    variants.add(encodeURIComponent(secret));
    try {
      variants.add(decodeURIComponent(secret));
    } catch {
      // not percent-encoded
    }
  }
  // Longest first, so a secret that contains another is hidden whole.
  return [...variants].filter((secret) => secret.length > 0).sort((a, b) => b.length - a.length);
}

/** `text` with every occurrence of each secret replaced by `***`. */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) out = out.replaceAll(secret, HIDDEN);
  return out;
}

/** Hides `secrets` in the message and stack of `error` and of its causes, in place; returns it. */
export function redactError<T>(error: T, secrets: readonly string[]): T {
  if (secrets.length === 0) return error;
  const seen = new Set<unknown>();
  let current: unknown = error;
  while (current instanceof Error && !seen.has(current)) {
    seen.add(current);
    current.message = redactSecrets(current.message, secrets);
    if (current.stack !== undefined) current.stack = redactSecrets(current.stack, secrets);
    if (current instanceof AggregateError) for (const inner of current.errors) redactError(inner, secrets);
    current = current.cause;
  }
  return error;
}
