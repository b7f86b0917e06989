// main.js — the order service: starts an order workflow whose payment step runs in another
// service, the billing service, which owns that code. The step is named by its handler's
// registered name and put on the queue 'billing'; this process serves only the default queue
// and has none of the billing code.
//
//   node examples/queues/main.js
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import DeFlow, { StepHandler, WorkFlow } from 'deflow';

const ship = new StepHandler({
  name: 'ship',
  handler: (task) => ({ shipped: task.data.orderId, by: 'order service' }),
});

// The billing service: its own process, serving the queue 'billing' only.
const billing = fork(fileURLToPath(new URL('./billing-service.js', import.meta.url)));
await once(billing, 'message');

DeFlow.register(); // queues: ['default']
const result = await WorkFlow.create('order')
  .addStep({ step: 'charge-card', name: 'charge', tasks: [{ orderId: 'A-17', amount: 42 }], options: { queue: 'billing' } })
  .addStep({ step: ship, tasks: [{ orderId: 'A-17' }] })
  .run()
  .done();

for (const step of result.steps) console.log(`${step.name} ran in the ${step.tasks[0].result.by}`);
await DeFlow.unregister();
billing.kill('SIGTERM');
await once(billing, 'exit');
