/** The store of one chaos run, owned by it so it can be restarted at will. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OwnedRedis } from '../redis/server.js';
import { OwnedPostgres } from '../postgres/server.js';
import { dumpPostgres, dumpRedis, dumpSqlite } from './store-dump.js';

export type ChaosBackendName = 'sqlite' | 'redis' | 'postgres';

export interface ChaosBackend {
  readonly name: ChaosBackendName;
  /** Register options every process of the run uses. */
  readonly options: Record<string, unknown>;
  /** Takes the store down abruptly for `outageMs` and brings it back; false when there is no server to restart (SQLite). */
  restart(outageMs: number): Promise<boolean>;
  /** Everything the store holds about these workflows, and its node and work indexes (store-dump.ts). */
  dump(workflowIds: string[]): Promise<string>;
  destroy(): Promise<void>;
}

/** Starting a server can fail for reasons of the machine (a busy port, a spawn error while node_modules is rewritten): try thrice. */
async function again(start: () => Promise<void>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (error) {
      if (attempt === 3) throw error;
      process.stdout.write(`  starting the server failed (${String(error)}); trying again\n`);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
  }
}

export async function startBackend(name: ChaosBackendName): Promise<ChaosBackend> {
  if (name === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'deflow-chaos-sqlite-'));
    return {
      name,
      options: { backend: `sqlite:${join(dir, 'chaos.db')}` },
      restart: () => Promise.resolve(false),
      dump: (ids) => Promise.resolve(dumpSqlite(join(dir, 'chaos.db'), ids)),
      destroy: () => Promise.resolve(rmSync(dir, { recursive: true, force: true })),
    };
  }
  if (name === 'redis') {
    // AOF with appendfsync always: a kill -9 loses nothing the server acknowledged.
    const server = await OwnedRedis.start({ persistence: true });
    return {
      name,
      options: { backend: server.url, prefix: 'chaos' },
      async restart(outageMs) {
        await server.kill();
        await new Promise((resolve) => setTimeout(resolve, outageMs));
        await again(() => server.start());
        return true;
      },
      dump: (ids) => dumpRedis(server.url, 'chaos', ids),
      destroy: () => server.destroy(),
    };
  }
  const cluster = await OwnedPostgres.create({ fsync: true, maxConnections: 200 });
  await cluster.start();
  return {
    name,
    options: { backend: cluster.url, schema: 'chaos' },
    async restart(outageMs) {
      await again(() => cluster.crashRestart(outageMs));
      return true;
    },
    dump: (ids) => dumpPostgres(cluster.url, 'chaos', ids),
    destroy: () => cluster.destroy(),
  };
}
