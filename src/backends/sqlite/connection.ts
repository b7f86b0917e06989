/**
 * Opens the embedded database: WAL mode so several processes on one machine can share the
 * file (one writer at a time, readers never blocked), and applies pending migrations under
 * an immediate transaction so processes starting together migrate exactly once.
 */
import Database from 'better-sqlite3';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BackendError } from '../../errors.js';
import { loadMigrations } from '../sql-files.js';

export type SqliteDatabase = Database.Database;

const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));

export function openDatabase(path: string, busyTimeoutMs: number): SqliteDatabase {
  let db: SqliteDatabase;
  try {
    if (path !== ':memory:') createPrivately(path);
    db = new Database(path, { timeout: busyTimeoutMs });
  } catch (cause) {
    throw new BackendError(
      `cannot open the SQLite database at ${path}: ${(cause as Error).message}. ` +
        'Check that the directory is writable, or pass another path with { backend: "sqlite:/path/to/file.db" }.',
      { cause },
    );
  }
  try {
    // Switching to WAL needs a moment alone with the file, and SQLite's busy timeout does not
    // cover it: processes opening a new file together retry until the timeout.
    retryWhileBusy(() => db.pragma('journal_mode = WAL'), busyTimeoutMs);
    // WAL + NORMAL: commits survive a killed process (the WAL is in the OS page cache);
    // only an OS crash or power loss can drop the last commits.
    db.pragma('synchronous = NORMAL');
    db.pragma('temp_store = MEMORY');
    db.pragma('cache_size = -65536');
    migrate(db);
  } catch (cause) {
    db.close();
    throw new BackendError(`cannot prepare the SQLite database at ${path}: ${(cause as Error).message}`, { cause });
  }
  return db;
}

/**
 * Opens an existing database only to look at it (deflow ls / show): read-only, no WAL switch,
 * no migration. A file deflow did not make, or one an older deflow left (which a node of this
 * version migrates when it starts), is refused with what to do.
 */
export function openDatabaseToRead(path: string, busyTimeoutMs: number): SqliteDatabase {
  let db: SqliteDatabase;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true, timeout: busyTimeoutMs });
  } catch (cause) {
    throw new BackendError(
      `cannot open the SQLite database at ${path} to read it: ${(cause as Error).message}. ` +
        'Point --backend (or $DEFLOW_BACKEND) at the file deflow uses.',
      { cause },
    );
  }
  try {
    checkReadable(db, path);
  } catch (error) {
    db.close();
    throw error;
  }
  return db;
}

function checkReadable(db: SqliteDatabase, path: string): void {
  let applied: number;
  try {
    const table = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'deflow_migrations'").get();
    if (table === undefined) {
      throw new BackendError(
        `${path} is not a deflow database (it has no deflow_migrations table): point --backend (or $DEFLOW_BACKEND) at the file deflow uses`,
      );
    }
    applied = (db.prepare('SELECT COALESCE(MAX(version), 0) AS v FROM deflow_migrations').get() as { v: number }).v;
  } catch (cause) {
    if (cause instanceof BackendError) throw cause;
    throw new BackendError(`cannot read the SQLite database at ${path}: ${(cause as Error).message}`, { cause });
  }
  const newest = loadMigrations(MIGRATIONS_DIR).at(-1);
  if (newest !== undefined && applied < newest.version) {
    throw new BackendError(
      `the deflow database at ${path} is at an older version of deflow (migration ${applied}; this deflow needs ${newest.version}), ` +
        "and a look does not migrate it. Start a node of this deflow version on it (your app's DeFlow.register, or deflow worker), " +
        'which migrates it, then look again; or use the deflow version that wrote it.',
    );
  }
}

/**
 * Creates the database file readable by its owner only (0600), and its directory 0700, when
 * they do not exist yet: the store holds every payload. SQLite gives the -wal and -shm files
 * the mode of the database file. An existing file keeps the mode its owner gave it.
 */
function createPrivately(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  try {
    closeSync(openSync(path, 'wx', 0o600)); // O_EXCL: a process creating it at the same time wins, and that is fine
  } catch (error) {
    if ((error as { code?: string }).code !== 'EEXIST') throw error;
  }
}

function retryWhileBusy<T>(action: () => T, timeoutMs: number): T {
  const deadline = Date.now() + timeoutMs;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let attempt = 1; ; attempt++) {
    try {
      return action();
    } catch (error) {
      if ((error as { code?: string }).code !== 'SQLITE_BUSY' || Date.now() > deadline) throw error;
      Atomics.wait(pause, 0, 0, Math.min(100, 5 * attempt)); // a short synchronous pause
    }
  }
}

function migrate(db: SqliteDatabase): void {
  const apply = db.transaction(() => {
    db.exec(
      'CREATE TABLE IF NOT EXISTS deflow_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)',
    );
    const row = db.prepare('SELECT COALESCE(MAX(version), 0) AS v FROM deflow_migrations').get() as { v: number };
    for (const migration of loadMigrations(MIGRATIONS_DIR)) {
      if (migration.version <= row.v) continue;
      db.exec(migration.sql);
      db.prepare('INSERT INTO deflow_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(
        migration.version,
        migration.name,
        Date.now(),
      );
    }
  });
  apply.immediate();
}
