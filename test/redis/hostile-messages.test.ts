/**
 * Junk on the Redis event channel (anyone with access to the server can publish there) is
 * skipped and reported once per kind; the node and its workflows carry on.
 */
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import DeFlow from '../../src/index.js';
import { KeySpace } from '../../src/backends/redis/keys.js';
import { followThroughForgery, forgedEvents } from '../helpers/forged-events.js';
import { expectReported, runUnderJunk } from '../helpers/hostile-messages.js';
import { REDIS_URL, deletePrefix, randomPrefix } from '../helpers/redis.js';

const prefix = randomPrefix('junk');
let redis: Redis;

beforeAll(() => {
  redis = new Redis(REDIS_URL);
});

afterEach(async () => {
  await DeFlow.unregister();
});

afterAll(async () => {
  await redis.quit();
  await deletePrefix(prefix);
});

const JUNK: (string | Buffer)[] = [
  'null',
  '[]',
  '{"origin":"x","events":5}',
  '"str"',
  '{}',
  'x'.repeat(2_000_000),
  Buffer.from([0x00, 0xff, 0xfe, 0x80]),
  '[5]',
  '[null]',
  '[{"type":"work"}]',
  '[{"type":"step","workflowId":"w","stepId":"1","status":"bogus"}]',
  '[{"type":"surprise"}]',
  '{"origin":"x","events":[{"type":"nextTask","workflowId":"w"}]}',
];

it('skips and reports malformed messages on the event channel while a workflow runs', async () => {
  const channel = new KeySpace(prefix).channel;
  const warnings = await runUnderJunk({ backend: REDIS_URL, prefix }, async () => {
    for (const message of JUNK) await redis.publish(channel, message);
  });
  expectReported(warnings, [
    'the message is null',
    'the events are a number, not an array',
    'the message is a string',
    'an object without an origin',
    'not JSON', // the huge string and the garbage bytes: one kind, reported once
    'an event is a number, not an object',
    'an event is null, not an object',
    '"work" event lacks',
    '"step" event lacks',
    'an event of an unknown type',
    '"nextTask" event lacks',
  ]);
  expect(warnings.every((w) => !w.message.includes('x'.repeat(100)))).toBe(true); // quoted, not dumped
});

it('believes no forged step or workflow event: the handle reports only what is stored', async () => {
  const channel = new KeySpace(prefix).channel;
  await followThroughForgery({ backend: REDIS_URL, prefix }, async (workflowId, stepId) => {
    await redis.publish(channel, JSON.stringify({ origin: 'x', events: forgedEvents(workflowId, stepId) }));
    await redis.publish(channel, JSON.stringify(forgedEvents(workflowId, stepId)));
  });
});
