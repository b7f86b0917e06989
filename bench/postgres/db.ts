/** Admin helpers of the benchmark: a schema per contender and run, and counts in peers' tables. */
import pg from 'pg';

export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: DATABASE_URL, application_name: 'deflow-bench-admin' });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export async function dropSchema(schema: string): Promise<void> {
  await withAdmin(async (client) => {
    await client.query(`DROP SCHEMA IF EXISTS ${client.escapeIdentifier(schema)} CASCADE`);
  });
}

/** Polls `sql` (one integer column `n`) until `done(n)`, every few milliseconds. */
export async function pollCount(sql: string, done: (n: number) => boolean, timeoutMs = 600_000): Promise<void> {
  await withAdmin(async (client) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { rows } = await client.query<{ n: number }>(sql);
      if (done(rows[0]?.n ?? 0)) return;
      if (Date.now() > deadline) throw new Error(`timed out waiting on: ${sql}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  });
}
