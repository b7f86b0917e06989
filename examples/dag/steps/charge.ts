import { StepHandler } from 'deflow';

export interface Order {
  id: string;
  amount: number;
}

/** Charges each order; the payment provider rejects amounts over 500 (to show a failure branch). */
export default new StepHandler<unknown, Order, { id: string; charged: number }>({
  name: 'charge',
  options: { taskConcurrency: 4, taskMaxFailCount: 2, taskFailRetryDelay: 50 },
  handler(task) {
    if (task.data.amount > 500) throw new Error(`card declined for order ${task.data.id}`);
    return { id: task.data.id, charged: task.data.amount };
  },
});
