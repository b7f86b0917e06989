/**
 * Junk NOTIFYed on the schema's event channel (any role that can connect can send it) is
 * skipped and reported once per kind; the node and its workflows carry on. The server itself
 * refuses invalid UTF-8 and NUL bytes in a payload, and payloads over 8000 bytes.
 */
import { afterAll, afterEach, it } from 'vitest';
import DeFlow from '../../src/index.js';
import { followThroughForgery, forgedEvents } from '../helpers/forged-events.js';
import { expectReported, runUnderJunk } from '../helpers/hostile-messages.js';
import { DATABASE_URL, dropSchemas, freshSchemaName, withAdmin } from '../helpers/postgres.js';

const schema = freshSchemaName();

afterEach(async () => {
  await DeFlow.unregister();
});

afterAll(async () => {
  await dropSchemas([schema]);
});

const JUNK = [
  'null',
  '[]',
  '{"origin":"x","events":5}',
  '"str"',
  '{}',
  'y'.repeat(7_900),
  '\u0001\u00ff\ufffd garbage',
  '{"type":"work"',
  '{"type":"work"}',
  '{"type":"workflow","workflowId":"w","status":"bogus"}',
  '{"type":"surprise"}',
  '12 {"type":"step"}',
  '#abc',
  '#999999999',
  '{"type":"wake"}\nnull\n5 {"type":"watch"}',
];

it('skips and reports malformed NOTIFY payloads while a workflow runs', async () => {
  const warnings = await runUnderJunk({ backend: DATABASE_URL, schema }, () =>
    withAdmin(async (client) => {
      for (const payload of JUNK) await client.query('SELECT pg_notify($1, $2)', [`deflow.${schema}`, payload]);
    }),
  );
  expectReported(warnings, [
    'a line that is neither an event nor a numbered event', // null, [], "str", the long and the garbage lines
    'an event without a type', // {"origin":"x","events":5} and {}
    'not JSON',
    '"work" event lacks',
    '"workflow" event lacks',
    'an event of an unknown type',
    '"step" event lacks',
    'a stored event reference without a numeric id',
    '"watch" event lacks',
  ]);
});

it('believes no forged step or workflow event: the handle reports only what is stored', async () => {
  await followThroughForgery({ backend: DATABASE_URL, schema }, (workflowId, stepId) =>
    withAdmin(async (client) => {
      const lines = forgedEvents(workflowId, stepId).map((event) => JSON.stringify(event));
      await client.query('SELECT pg_notify($1, $2)', [`deflow.${schema}`, lines.join('\n')]);
    }),
  );
});
