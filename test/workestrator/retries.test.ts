// maxRetries as Workestrator documents it: ANY failed call is retried (errors the function throws
// included), then it fails with CallMaxRetryError carrying the last failure as `reason`.
import fs from 'node:fs';
import { expect, test } from 'vitest';
import { CallMaxRetryError, TimeoutError, WorkerTerminatedError, type WorkestratorMessage } from '../../src/workestrator/index.js';
import { checkLeaksAfterEach, makeFarm, nextEvent, tempFile } from './helpers.js';

checkLeaksAfterEach();

test('a thrown error is retried (3 times by default): a call that fails 3 times then succeeds resolves', async () => {
  const farm = makeFarm();
  const counter = tempFile('count');
  expect(await farm.runMethod('failTimes', counter, 3)).toBe(4);
  expect(fs.readFileSync(counter, 'utf8')).toBe('4');
  await farm.kill();
});

test('a call that keeps throwing fails with CallMaxRetryError, the thrown error as reason', async () => {
  const farm = makeFarm();
  const answers: WorkestratorMessage[] = [];
  farm.on('message', (_worker, data) => answers.push(data));
  const counter = tempFile('count');
  const error = (await farm.runMethod('failTimes', counter, 100).catch((e: unknown) => e)) as CallMaxRetryError;
  expect(error).toBeInstanceOf(CallMaxRetryError);
  expect(error.reason).toBeInstanceOf(RangeError);
  expect(error.reason.message).toBe('failure 4 of 100');
  expect(error.attempts).toBe(4);
  expect(fs.readFileSync(counter, 'utf8')).toBe('4');
  // Each attempt's answer was a message event with its error.
  expect(answers.map((answer) => answer.err?.message)).toEqual(['failure 1 of 100', 'failure 2 of 100', 'failure 3 of 100', 'failure 4 of 100']);
  expect(new Set(answers.map((answer) => answer.callId)).size).toBe(1);
  expect(await farm.run(1, 2, 3)).toBe(6); // the worker kept serving
  await farm.kill();
});

test('maxRetries sets the number of retries; with 0 the error itself is what the call rejects with', async () => {
  const two = makeFarm({ maxRetries: 2 });
  const counter = tempFile('count');
  const error = (await two.runMethod('failTimes', counter, 100).catch((e: unknown) => e)) as CallMaxRetryError;
  expect(error).toBeInstanceOf(CallMaxRetryError);
  expect(error.attempts).toBe(3);
  await two.kill();
  const none = makeFarm({ maxRetries: 0 });
  const thrown = await none.runMethod('fail', 'no retry').catch((e: unknown) => e);
  expect(thrown).toBeInstanceOf(TypeError);
  expect((thrown as TypeError).message).toBe('no retry');
  await none.kill();
});

test('a missing method is a failed call like any other: retried, then CallMaxRetryError', async () => {
  const farm = makeFarm({ maxRetries: 1 });
  const error = (await farm.runMethod('nope').catch((e: unknown) => e)) as CallMaxRetryError;
  expect(error).toBeInstanceOf(CallMaxRetryError);
  expect(error.reason.message).toMatch(/exports no function named 'nope'/);
  await farm.kill();
});

test('a crashed worker: its call is retried on another worker', async () => {
  const farm = makeFarm({ numberOfWorkers: 2 });
  const exited = nextEvent(farm, 'exit');
  const pid = await farm.runMethod('exitOnce', tempFile('marker'), 3);
  const [worker, code] = await exited;
  expect(code).toBe(3);
  expect(pid).not.toBe(worker.pid);
  await farm.kill();
});

test('a call that keeps crashing its worker: CallMaxRetryError with the WorkerTerminatedError as reason', async () => {
  const farm = makeFarm({ maxRetries: 1 });
  const error = (await farm.runMethod('exit', 5).catch((e: unknown) => e)) as CallMaxRetryError;
  expect(error).toBeInstanceOf(CallMaxRetryError);
  expect(error.reason).toBeInstanceOf(WorkerTerminatedError);
  expect((error.reason as WorkerTerminatedError).exitCode).toBe(5);
  await farm.kill();
});

test('timeout: the call fails with TimeoutError (its worker killed), retried, then CallMaxRetryError', async () => {
  const once = makeFarm({ timeout: 300, maxRetries: 0 });
  const timedOut = await once.runMethod('hang').catch((e: unknown) => e);
  expect(timedOut).toBeInstanceOf(TimeoutError);
  await once.kill();
  const farm = makeFarm({ timeout: 300, maxRetries: 1 });
  const exits = [];
  farm.on('exit', (worker) => exits.push(worker.id));
  const error = (await farm.runMethod('hang').catch((e: unknown) => e)) as CallMaxRetryError;
  expect(error).toBeInstanceOf(CallMaxRetryError);
  expect(error.reason).toBeInstanceOf(TimeoutError);
  expect(exits.length).toBeGreaterThanOrEqual(1);
  expect(await farm.run(1, 1, 1)).toBe(3);
  await farm.kill();
});

test('broadcast calls that throw are retried on their own worker, then reported in failures', async () => {
  const farm = makeFarm({ numberOfWorkers: 2, maxRetries: 2 });
  const [results, failures] = await farm.broadcastMethod('fail', 'everywhere');
  expect(results).toEqual([]);
  expect(failures).toHaveLength(2);
  for (const failure of failures) {
    expect(failure).toBeInstanceOf(CallMaxRetryError);
    expect((failure as CallMaxRetryError).attempts).toBe(3);
    expect((failure as CallMaxRetryError).reason.message).toBe('everywhere');
  }
  await farm.kill();
});
