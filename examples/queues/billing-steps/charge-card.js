// billing-steps/charge-card.js — charges an order's card; only the billing service has this code.
import { StepHandler } from 'deflow';

export default new StepHandler({
  name: 'charge-card',
  handler: (task) => ({ charged: task.data.amount, orderId: task.data.orderId, by: 'billing service' }),
});
