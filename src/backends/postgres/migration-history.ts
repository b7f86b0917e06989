/**
 * What a schema's recorded migrations say about where it came from, checked before anything
 * is applied. A schema built by the development migrations that were squashed into
 * 0001_baseline, or by another deflow (a newer one, or a build whose migration N differs), is
 * refused with a message saying what to do: migrating it on a guess could leave tables the
 * functions do not expect, and an older deflow would put its older functions back.
 */
import type { Migration } from '../sql-files.js';

export interface RecordedMigration {
  version: number;
  name: string;
}

/** The first migration of the chain squashed into the baseline (never released). */
const SQUASHED_FIRST: RecordedMigration = { version: 1, name: 'tables' };

/** Throws when `recorded` (the schema's `migrations` rows) is not a prefix of `known`. */
export function checkHistory(schema: string, recorded: readonly RecordedMigration[], known: readonly Migration[]): void {
  if (recorded.some((m) => m.version === SQUASHED_FIRST.version && m.name === SQUASHED_FIRST.name)) {
    throw new Error(
      `schema "${schema}" was built by a development version of deflow (its migrations are ${span(recorded)}, ` +
        `since squashed into ${fileName(known[0])}) and cannot be upgraded: drop it (DROP SCHEMA "${schema}" CASCADE, ` +
        'which deletes its workflows) and start again, deflow creates it afresh',
    );
  }
  const byVersion = new Map(known.map((m) => [m.version, m]));
  const newest = known.at(-1);
  for (const m of recorded) {
    const mine = byVersion.get(m.version);
    if (mine?.name === m.name) continue;
    if (mine === undefined && m.version > (newest?.version ?? 0)) {
      throw new Error(
        `schema "${schema}" was migrated by a newer deflow (it has migration ${fileName(m)}, this deflow knows up to ` +
          `${fileName(newest)}): run the same deflow version in every process that uses the schema`,
      );
    }
    throw new Error(
      `schema "${schema}" has migration ${fileName(m)} where this deflow has ${fileName(mine)}: it was migrated by ` +
        'another build of deflow; run the same deflow version in every process that uses the schema, or use a new schema',
    );
  }
}

function fileName(m: RecordedMigration | undefined): string {
  return m === undefined ? 'none' : `${String(m.version).padStart(4, '0')}_${m.name}`;
}

function span(recorded: readonly RecordedMigration[]): string {
  const first = recorded[0];
  const last = recorded.at(-1);
  return first === last ? fileName(first) : `${fileName(first)} … ${fileName(last)}`;
}
