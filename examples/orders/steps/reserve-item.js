// steps/reserve-item.js — one task per item of the order
import { StepHandler } from 'deflow';

export default new StepHandler({
  name: 'reserve-item',
  options: { taskConcurrency: 4, taskMaxFailCount: 3 },
  async handler(task) {
    return { item: task.data, reserved: true }; // call the warehouse for real here
  },
});
