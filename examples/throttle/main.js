// main.js — throttles calls to a rate-limited API per customer: the CRM allows each customer
// so many calls per second, counted by every node that runs this workflow.
//
//   node examples/throttle/main.js
import DeFlow, { WorkFlow } from 'deflow';
import callCrm from './steps/call-crm.js';

const perCustomer = { max: 3, per: 1000 };
const records = { acme: ['a1', 'a2', 'a3', 'a4', 'a5', 'a6', 'a7'], globex: ['g1', 'g2', 'g3', 'g4'] };

DeFlow.register();
// One limit, kept in the backend; `key` gives each customer a window of its own.
await DeFlow.setRateLimit('crm', perCustomer);

const tasks = Object.entries(records).flatMap(([customer, ids]) => ids.map((record) => ({ customer, record })));
const result = await WorkFlow.create('crm-sync')
  .addStep({ name: 'sync', step: callCrm, tasks, options: { rateLimit: { name: 'crm', key: 'customer' } } })
  .run()
  .done();

for (const customer of Object.keys(records)) {
  const calls = result.steps[0].tasks.map((task) => task.result).filter((call) => call.customer === customer);
  const starts = calls.map((call) => call.startedAt).sort((a, b) => a - b);
  // The backend counts a call when a node claims it; the handler starts a few ms later.
  const window = perCustomer.per - 50;
  let most = 0;
  for (let first = 0, last = 0; last < starts.length; last++) {
    while (starts[last] - starts[first] >= window) first++;
    most = Math.max(most, last - first + 1);
  }
  console.log(`${customer}: ${starts.length} calls, at most ${most} in any ${perCustomer.per} ms`);
}
await DeFlow.unregister();
