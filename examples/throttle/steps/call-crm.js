// steps/call-crm.js — one call to a partner CRM that allows each customer so many calls per second.
import { setTimeout as sleep } from 'node:timers/promises';
import { StepHandler } from 'deflow';

export default new StepHandler({
  name: 'call-crm',
  options: { taskConcurrency: 6 },
  async handler(task) {
    const startedAt = Date.now();
    await sleep(20); // the HTTP call, for real here
    return { customer: task.data.customer, record: task.data.record, startedAt };
  },
});
