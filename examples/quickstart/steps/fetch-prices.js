// steps/fetch-prices.js — a step handler lives in its own module, so every process can load it
import { StepHandler } from 'deflow';

export default new StepHandler({
  name: 'fetch-prices',
  options: { taskConcurrency: 5, taskTimeout: 2000, taskMaxFailCount: 3 },
  async beforeAll(step) {
    await step.addTasks(['EUR', 'GBP', 'JPY']); // one task per currency
  },
  async handler(task) {
    return { currency: task.data, rate: 1 + task.data.length / 10 }; // fetch it for real here
  },
});
