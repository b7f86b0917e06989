/**
 * A queue no node serves: run() warns once, `deflow show` says which steps wait for a node
 * serving their queue, and says nothing once one is registered.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import DeFlow, { StepHandler, WorkFlow } from '../src/index.js';
import { runCli } from './helpers/cli.js';

const charge = new StepHandler<unknown, number, number>({ name: 'cli-queues-charge', handler: (task) => task.data });

describe('deflow and queues', () => {
  const dir = mkdtempSync(join(tmpdir(), 'deflow-cli-queues-'));
  const backend = `sqlite:${join(dir, 'deflow.db')}`;
  afterAll(async () => {
    await DeFlow.unregister();
    rmSync(dir, { recursive: true, force: true });
  });

  it('show names the queue a waiting step needs a node for, until one serves it', async () => {
    await DeFlow.register({ backend }).ready(); // serves 'default' only
    const warnings: Error[] = [];
    const onWarning = (warning: Error): void => void warnings.push(warning);
    process.on('warning', onWarning);
    const workflow = WorkFlow.create('billed').addStep({ step: charge, name: 'charge', tasks: [1], options: { queue: 'billing' } }).run();
    await workflow.started();
    await WorkFlow.create('billed-again').addStep({ step: charge, tasks: [2], options: { queue: 'billing' } }).run().started();
    await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
    process.off('warning', onWarning);
    // Once per queue and process, saying what to start.
    const unserved = warnings.filter((warning) => (warning as { code?: string }).code === 'DEFLOW_QUEUE_UNSERVED');
    expect(unserved.map((warning) => warning.message)).toEqual([expect.stringMatching(/queue "billing", which no node serves.*--queues billing/)]);
    const waiting = await runCli(['show', workflow.id, '--backend', backend], dir);
    expect(waiting.stdout).toContain('charge waiting for a node serving queue billing');
    await DeFlow.unregister();
    await DeFlow.register({ backend, queues: ['billing'] }).ready();
    await (await WorkFlow.getById(workflow.id))?.done();
    const done = await runCli(['show', workflow.id, '--backend', backend], dir);
    expect(done.stdout).not.toContain('waiting for a node');
  });
});
