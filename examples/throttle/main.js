// main.js — throttles calls to a rate-limited API per customer: each customer's plan allows so
// many calls per second, shared by every node that runs this workflow.
//
//   node examples/throttle/main.js
import DeFlow, { WorkFlow } from 'deflow';
import callCrm from './steps/call-crm.js';

const plans = { acme: { max: 5, per: 1000 }, globex: { max: 2, per: 1000 } };
const records = { acme: ['a1', 'a2', 'a3', 'a4', 'a5', 'a6', 'a7'], globex: ['g1', 'g2', 'g3', 'g4'] };

DeFlow.register();
// One limit per customer, kept in the backend: every node counts the same calls.
for (const [customer, plan] of Object.entries(plans)) await DeFlow.setRateLimit(`crm:${customer}`, plan);

const workflow = WorkFlow.create('crm-sync');
for (const [customer, ids] of Object.entries(records)) {
  workflow.addStep({
    name: `sync-${customer}`,
    step: callCrm,
    tasks: ids.map((record) => ({ customer, record })),
    options: { rateLimit: `crm:${customer}` },
  });
}
const result = await workflow.run().done();

for (const step of result.steps) {
  const starts = step.tasks.map((task) => task.result.startedAt).sort((a, b) => a - b);
  const { per } = plans[step.tasks[0].result.customer];
  // The backend counts a call when a node claims it; the handler starts a few ms later.
  const window = per - 50;
  let most = 0;
  for (let first = 0, last = 0; last < starts.length; last++) {
    while (starts[last] - starts[first] >= window) first++;
    most = Math.max(most, last - first + 1);
  }
  console.log(`${step.name}: ${starts.length} calls, at most ${most} in any ${per} ms`);
}
await DeFlow.unregister();
