/** Backend URLs as messages show them: never with their password. */

/** The URL with its password replaced by `***` (also when it does not parse). */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    // Everything between the first ":" of the user info and the last "@" may be password.
    const start = url.indexOf('://') + 3;
    const at = url.lastIndexOf('@');
    const colon = url.indexOf(':', start);
    if (start < 3 || at < start || colon < 0 || colon > at) return url;
    return `${url.slice(0, colon)}:***${url.slice(at)}`;
  }
}
