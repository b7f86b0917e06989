// workflows/fulfil-order.js — a workflow definition: any process that loaded it starts it by name
//   npx deflow worker --workflows examples/orders/workflows
//   npx deflow start fulfil-order --workflows examples/orders/workflows \
//     --input '{"orderId":"A-17","items":["book","pen"]}' --id fulfil-A-17 --key A-17 --wait
//   npx deflow ls --key A-17
import { WorkFlow, defineWorkflow } from 'deflow';
import reserveItem from '../steps/reserve-item.js';
import shipOrder from '../steps/ship-order.js';

export default defineWorkflow(
  'fulfil-order',
  (order) =>
    WorkFlow.create('fulfil-order')
      .addStep({ step: reserveItem, tasks: order.items })
      .addStep({ step: shipOrder, tasks: [order.orderId] }),
  { description: 'reserves every item of an order, then ships it' },
);
