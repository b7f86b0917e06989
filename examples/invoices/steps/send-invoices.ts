/**
 * DeFlow's typed invoice example, on deflow: beforeAll prepares one task per order,
 * handler sends each invoice, afterAll adds a fallback step for those that bounced.
 */
import { StepHandler } from 'deflow';
import fallback from './send-by-post.js';

export interface Invoice {
  productName: string;
  productPrice: number;
  userEmail: string;
}

export default new StepHandler<{ date: string }, Invoice, { sent: boolean }>({
  name: 'send-invoices',
  options: { taskConcurrency: 5, taskTimeout: 2000 },
  async beforeAll(step) {
    const orders = [
      { product: 'desk', price: 300, email: 'ada@example.com' },
      { product: 'lamp', price: 40, email: 'bounce@example.invalid' },
      { product: 'chair', price: 120, email: 'alan@example.com' },
    ]; // a database query in real life
    await step.addTasks(orders.map((o) => ({ productName: o.product, productPrice: o.price, userEmail: o.email })));
  },
  handler(task) {
    return { sent: !task.data.userEmail.endsWith('.invalid') };
  },
  async afterAll(step) {
    const bounced = (await step.getResults()).filter((task) => task.result?.sent === false).map((task) => task.data);
    if (bounced.length > 0) await step.addAfter({ step: fallback, tasks: bounced, options: { taskMaxFailCount: 3 } });
  },
});
