/** Small text helpers for the CLI. */

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

export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** Table colours only on a terminal, and never with NO_COLOR set (https://no-color.org). */
export function tableStyle(): { head: string[]; border: string[] } {
  const color = process.stdout.isTTY && process.env.NO_COLOR === undefined;
  return color ? { head: ['cyan'], border: ['grey'] } : { head: [], border: [] };
}
