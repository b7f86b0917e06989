// steps/ship-order.js — once every item is reserved
import { StepHandler } from 'deflow';

export default new StepHandler({
  name: 'ship-order',
  async handler(task, step) {
    const reserved = await (await step.getWorkflow()).getStep('reserve-item');
    const items = (await reserved.getResults()).map((t) => t.result.item);
    return `order ${task.data} ships ${items.join(', ')}`;
  },
});
