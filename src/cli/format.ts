/** Small text helpers for the CLI. */

const ESCAPES: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };
/**
 * What a terminal would act on instead of showing: C0 and C1 controls, DEL, line and paragraph
 * separators, bidirectional overrides. A backslash stays itself, so paths and JSON read as
 * stored (a name spelled "\x1b" and one holding ESC then print alike, and neither does harm).
 */
// eslint-disable-next-line no-control-regex
const UNPRINTABLE = /[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * Stored text (names, ids, error messages) as the CLI prints it: anyone who can write the
 * backend chooses it, so a name like "\x1b[2J" is shown as those characters, never run by the
 * terminal. Every stored string the CLI prints goes through here.
 */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (char) => {
    const known = ESCAPES[char];
    if (known !== undefined) return known;
    const code = char.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/** Like `printable`, keeping line breaks: for messages deflow writes on several lines. */
export function printableLines(text: string): string {
  return text.split('\n').map(printable).join('\n');
}

export function duration(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return '-';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)} s`;
  const minutes = Math.floor(ms / 60_000);
  return `${minutes} min ${Math.round((ms % 60_000) / 1000)} s`;
}

export function since(start: number | null, end: number | null, now = Date.now()): number | null {
  if (start === null) return null;
  return (end ?? now) - start;
}

export function timestamp(ms: number | null): string {
  return ms === null ? '-' : new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
}

/** `text` made printable, then cut to `max` characters. */
export function truncate(text: string, max: number): string {
  const shown = printable(text);
  return shown.length <= max ? shown : `${shown.slice(0, max - 1)}…`;
}

/** Table colours only on a terminal, and never with NO_COLOR set (https://no-color.org). */
export function tableStyle(): { head: string[]; border: string[] } {
  const color = process.stdout.isTTY && process.env.NO_COLOR === undefined;
  return color ? { head: ['cyan'], border: ['grey'] } : { head: [], border: [] };
}
