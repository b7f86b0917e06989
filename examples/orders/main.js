// main.js — starting a workflow definition by name, idempotently, under a business key
import DeFlow, { WorkFlow } from 'deflow';
import './workflows/fulfil-order.js'; // defines 'fulfil-order' in this process

DeFlow.register(); // embedded SQLite under ./.deflow/; this process is also a worker
console.log('definitions:', DeFlow.definitions().map((d) => `${d.name} (${d.description})`).join(', '));

const order = { orderId: 'A-17', items: ['book', 'pen'] };
// The id makes the start idempotent: a retried request (or a second process) creates nothing.
const first = await DeFlow.start('fulfil-order', order, { id: 'fulfil-A-17', key: 'A-17' });
const retried = await DeFlow.start('fulfil-order', order, { id: 'fulfil-A-17', key: 'A-17' });
console.log(`created: ${first.created}, then ${retried.created}; same workflow: ${first.id === retried.id}`);

const result = await retried.done();
console.log(result.steps.at(-1).tasks[0].result); // order A-17 ships book, pen
console.log('workflows of A-17:', (await WorkFlow.getByKey('A-17')).map((w) => `${w.id} ${w.status}`).join(', '));
await DeFlow.unregister();
