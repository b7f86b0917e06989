/**
 * What the store holds about some workflows, written next to the logs when a run fails, so a
 * hang or a loss can be read after the run's server is gone. Raw: every row or key that names
 * the workflow, and the node and index entries the step machine reads to find work.
 */
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import pg from 'pg';

async function redisKey(redis: Redis, key: string): Promise<unknown> {
  const type = await redis.type(key);
  if (type === 'hash') return redis.hgetall(key);
  if (type === 'zset') return redis.zrange(key, 0, -1, 'WITHSCORES');
  if (type === 'set') return redis.smembers(key);
  if (type === 'list') return redis.lrange(key, 0, -1);
  if (type === 'string') return redis.get(key);
  return `(${type})`;
}

export async function dumpRedis(url: string, prefix: string, ids: string[]): Promise<string> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  try {
    const out: Record<string, unknown> = {};
    const globals = await redis.keys(`${prefix}:{${prefix}}:*`);
    for (const key of globals.sort()) out[key] = await redisKey(redis, key);
    for (const id of ids) for (const key of (await redis.keys(`${prefix}:{${id}}:*`)).sort()) out[key] = await redisKey(redis, key);
    return JSON.stringify(out, null, 1);
  } finally {
    redis.disconnect();
  }
}

export async function dumpPostgres(url: string, schema: string, ids: string[]): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const out: Record<string, unknown> = {};
    const { rows: tables } = await client.query<{ table_name: string; has_wf: boolean }>(
      `SELECT table_name, bool_or(column_name = 'workflow_id') AS has_wf FROM information_schema.columns WHERE table_schema = $1 GROUP BY table_name ORDER BY table_name`,
      [schema],
    );
    for (const { table_name: table, has_wf: hasWorkflow } of tables) {
      const name = `${client.escapeIdentifier(schema)}.${client.escapeIdentifier(table)}`;
      const column = table === 'workflows' ? 'id' : hasWorkflow ? 'workflow_id' : null;
      const { rows } = column === null ? await client.query(`SELECT * FROM ${name} LIMIT 200`) : await client.query(`SELECT * FROM ${name} WHERE ${column} = ANY($1)`, [ids]);
      out[table] = rows;
    }
    return JSON.stringify(out, null, 1);
  } finally {
    await client.end();
  }
}

export function dumpSqlite(file: string, ids: string[]): string {
  const db = new Database(file, { readonly: true });
  try {
    const out: Record<string, unknown> = {};
    const tables = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).all() as { name: string }[];
    for (const { name } of tables) {
      const columns = (db.prepare(`SELECT name FROM pragma_table_info(?)`).all(name) as { name: string }[]).map((c) => c.name);
      const column = name === 'workflows' ? 'id' : columns.includes('workflow_id') ? 'workflow_id' : null;
      const placeholders = ids.map(() => '?').join(',');
      out[name] =
        column === null ? db.prepare(`SELECT * FROM "${name}" LIMIT 200`).all() : ids.length === 0 ? [] : db.prepare(`SELECT * FROM "${name}" WHERE "${column}" IN (${placeholders})`).all(...ids);
    }
    return JSON.stringify(out, (_key, value: unknown) => (Buffer.isBuffer(value) ? value.toString('base64') : value), 1);
  } finally {
    db.close();
  }
}
