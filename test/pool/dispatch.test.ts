// How calls are spread: per-worker and farm-wide limits, least-loaded first, broadcast.
import { describe, expect, test } from 'vitest';
import { MaxConcurrentCallsError, WorkerTerminatedError } from '../../src/pool/index.js';
import { Call } from '../../src/pool/call.js';
import { CallQueue } from '../../src/pool/call-queue.js';
import { LoadBuckets, type Bucketed } from '../../src/pool/load-buckets.js';
import { basicFarm, checkLeaksAfterEach, nextEvent, tempFile, TYPES, waitFor } from './helpers.js';

checkLeaksAfterEach();

describe.each(TYPES)('%s workers', (type) => {
  test('maxConcurrentCallsPerWorker caps what one worker runs at once', async () => {
    const farm = basicFarm({ type, maxConcurrentCallsPerWorker: 2 });
    const peaks = await Promise.all(Array.from({ length: 6 }, () => farm.runMethod('concurrency', 150)));
    expect(Math.max(...peaks)).toBe(2);
    await farm.kill();
  });

  test('calls go to the least-loaded worker first', async () => {
    const farm = basicFarm({ type, numberOfWorkers: 2 });
    await waitFor(() => farm.workers.filter((w) => w.state === 'ready').length === 2);
    const who = await Promise.all(Array.from({ length: 10 }, () => farm.runMethod('sleep', 100, null).then(() => null)));
    expect(who).toHaveLength(10);
    const loads = farm.workers.map((w) => w.received);
    expect(loads).toEqual([5, 5]);
    await farm.kill();
  });

  test('maxConcurrentCalls: calls beyond it are refused at once, and accepted again later', async () => {
    const farm = basicFarm({ type, maxConcurrentCalls: 2 });
    const first = farm.runMethod('sleep', 100, 'a');
    const second = farm.runMethod('sleep', 100, 'b');
    const error = (await farm.run(1, 2).catch((e: unknown) => e)) as MaxConcurrentCallsError;
    expect(error).toBeInstanceOf(MaxConcurrentCallsError);
    expect(error.code).toBe('ERR_POOL_MAX_CONCURRENT_CALLS');
    expect(error.limit).toBe(2);
    expect(farm.pendingCalls).toBe(2);
    expect(await Promise.all([first, second])).toEqual(['a', 'b']);
    expect(await farm.run(1, 2)).toBe(3);
    await farm.kill();
  });

  test('broadcast runs once on every worker', async () => {
    const farm = basicFarm({ type, numberOfWorkers: 2 });
    const [results, errors] = await farm.broadcastMethod('whoami');
    expect(errors).toEqual([]);
    expect(results).toHaveLength(2);
    const ids = results.map((r) => (type === 'process' ? r.pid : r.threadId));
    expect(new Set(ids).size).toBe(2);
    const [sums] = await farm.broadcast(2, 3);
    expect(sums).toEqual([5, 5]);
    await farm.kill();
  });

  test('broadcast with a worker dying: its call fails, the others succeed, nothing is retried elsewhere', async () => {
    const farm = basicFarm({ type, numberOfWorkers: 2 });
    await waitFor(() => farm.workers.filter((w) => w.state === 'ready').length === 2);
    const [results, errors] = await farm.broadcastMethod('exitOnce', tempFile('marker'), 5);
    expect(results).toEqual(['survived']);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(WorkerTerminatedError);
    expect((errors[0] as WorkerTerminatedError).exitCode).toBe(5);
    await farm.kill();
  });

  test('broadcast reaches workers still starting, and waits for a free slot', async () => {
    const farm = basicFarm({ type, maxConcurrentCallsPerWorker: 1 });
    const busy = farm.runMethod('sleep', 200, 'busy');
    const [results] = await farm.broadcastMethod('count');
    expect(results).toEqual([1]);
    expect(await busy).toBe('busy');
    await farm.kill();
  });
});

test('workers online before their first call are all used', async () => {
  const farm = basicFarm({ numberOfWorkers: 2 });
  await nextEvent(farm, 'online');
  await waitFor(() => farm.workers.every((w) => w.state === 'ready'));
  await Promise.all(Array.from({ length: 4 }, () => farm.runMethod('sleep', 50)));
  expect(farm.workers.map((w) => w.received)).toEqual([2, 2]);
  await farm.kill();
});

describe('LoadBuckets', () => {
  type W = Bucketed<W> & { name: string };
  const worker = (name: string): W => ({ name, load: 0, bucketPrev: null, bucketNext: null, inBuckets: false });
  const dispatch = (buckets: LoadBuckets<W>, w: W): void => {
    w.load++;
    buckets.increment(w);
  };
  const complete = (buckets: LoadBuckets<W>, w: W): void => {
    w.load--;
    buckets.decrement(w);
  };

  test('picks the least-loaded worker, the most recently freed among equals, none when all are full', () => {
    const buckets = new LoadBuckets<W>(2);
    const [a, b] = [worker('a'), worker('b')];
    expect(buckets.pick()).toBeNull();
    buckets.add(a);
    buckets.add(b);
    const loads: number[] = [];
    for (let i = 0; i < 4; i++) {
      const w = buckets.pick()!;
      loads.push(w.load);
      dispatch(buckets, w);
    }
    expect(loads).toEqual([0, 0, 1, 1]); // never a busier worker while a lighter one is free
    expect([a.load, b.load]).toEqual([2, 2]);
    expect(buckets.pick()).toBeNull();
    complete(buckets, b);
    expect(buckets.pick()?.name).toBe('b');
    complete(buckets, a);
    expect(buckets.pick()?.name).toBe('a'); // a warm worker that just answered goes first
    complete(buckets, a);
    expect(buckets.pick()?.name).toBe('a');
  });

  test('removing the only least-loaded worker moves the minimum up', () => {
    const buckets = new LoadBuckets<W>(3);
    const [a, b] = [worker('a'), worker('b')];
    buckets.add(a);
    buckets.add(b);
    dispatch(buckets, b);
    buckets.remove(a);
    expect(buckets.pick()?.name).toBe('b');
    buckets.remove(b);
    expect(buckets.pick()).toBeNull();
    buckets.add(a);
    expect(buckets.pick()?.name).toBe('a');
  });
});

describe('CallQueue', () => {
  const call = (id: number): Call => new Call(id, 'm', [], Infinity, undefined, null, () => {}, () => {});

  test('is FIFO, takes retries at the front and removes from the middle in O(1)', () => {
    const queue = new CallQueue();
    const [c1, c2, c3, c4] = [call(1), call(2), call(3), call(4)];
    queue.push(c1);
    queue.push(c2);
    queue.push(c3);
    queue.remove(c2);
    queue.unshift(c4);
    expect(queue.size).toBe(3);
    const order: number[] = [];
    queue.drainTo((c) => order.push(c.id));
    expect(order).toEqual([4, 1, 3]);
    expect(queue.size).toBe(0);
    queue.remove(c1); // not queued any more: no effect
    expect(queue.shift()).toBeNull();
  });
});
