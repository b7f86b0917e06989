/** `?schema=` in a PostgreSQL URL chooses the schema, like the schema option (and never reaches pg). */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import DeFlow from '../../src/index.js';
import { DATABASE_URL, connectionsOf, dropSchemas, freshSchemaName, withAdmin } from '../helpers/postgres.js';

const schemas: string[] = [];
afterEach(async () => {
  await DeFlow.unregister();
});
afterAll(async () => {
  await dropSchemas(schemas);
});

function withSchemaParameter(schema: string): string {
  const url = new URL(DATABASE_URL);
  url.searchParams.set('schema', schema);
  return url.toString();
}

describe('PostgreSQL ?schema= in the URL', () => {
  it('uses the schema the URL names', async () => {
    const schema = freshSchemaName();
    schemas.push(schema);
    const deflow = DeFlow.register({ backend: withSchemaParameter(schema), worker: false });
    await deflow.ready();
    const { backend } = await deflow.services();
    expect(backend.location).toContain(`(schema ${schema})`);
    expect(backend.location).not.toContain('?schema=');
    expect(await connectionsOf(schema)).toBeGreaterThan(0);
    const found = await withAdmin(async (client) => (await client.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = $1', [schema])).rows[0]?.n);
    expect(found).toBeGreaterThan(0);
  });

  it('accepts the same schema given twice, refuses two different ones and a bad name', () => {
    const schema = freshSchemaName();
    schemas.push(schema);
    expect(() => DeFlow.register({ backend: `${withSchemaParameter(schema)}&schema=other`, worker: false })).toThrow(/gives \?schema= 2 times/);
    expect(() => DeFlow.register({ backend: withSchemaParameter(schema), schema: 'other', worker: false })).toThrow(
      /options.schema is "other" but the backend URL says \?schema=deflow_t_\w+: give the schema in one place/,
    );
    expect(() => DeFlow.register({ backend: withSchemaParameter('Bad-Name'), worker: false })).toThrow(/the backend URL's \?schema= must be a lowercase PostgreSQL name/);
    DeFlow.register({ backend: withSchemaParameter(schema), schema, worker: false });
  });
});
