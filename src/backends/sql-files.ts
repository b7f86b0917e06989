/**
 * Loads SQL kept in `.sql` files next to a backend: named query blocks ("-- name: key")
 * and numbered migrations ("0001_initial.sql"). Orchestration code refers to queries by
 * name and never builds SQL text itself.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const NAME_MARKER = /^--\s*name:\s*([A-Za-z0-9_]+)\s*$/;

/** Every named block of every `.sql` file in `dir`, keyed by name. Duplicate names are a bug. */
export function loadNamedQueries(dir: string): Record<string, string> {
  const queries: Record<string, string> = {};
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.sql')).sort()) {
    let current: string | null = null;
    let lines: string[] = [];
    const flush = (): void => {
      if (current === null) return;
      if (current in queries) throw new Error(`duplicate SQL query name "${current}" in ${file}`);
      queries[current] = lines.join('\n').trim();
    };
    for (const line of readFileSync(join(dir, file), 'utf8').split('\n')) {
      const match = NAME_MARKER.exec(line);
      if (match?.[1] !== undefined) {
        flush();
        current = match[1];
        lines = [];
      } else if (current !== null && !line.trimStart().startsWith('--')) {
        lines.push(line);
      }
    }
    flush();
  }
  return queries;
}

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** Numbered migrations (`NNNN_name.sql`) in ascending order. */
export function loadMigrations(dir: string): Migration[] {
  return readdirSync(dir)
    .filter((f) => /^\d{4}_.+\.sql$/.test(f))
    .sort()
    .map((file) => ({
      version: Number(file.slice(0, 4)),
      name: file.slice(5, -4),
      sql: readFileSync(join(dir, file), 'utf8'),
    }));
}
