import { StepHandler } from 'deflow';
import type { Invoice } from './send-invoices.js';

export default new StepHandler<unknown, Invoice, string>({
  name: 'send-by-post',
  handler: (task) => `letter to the owner of ${task.data.userEmail} for ${task.data.productName}`,
});
