// main.js
import DeFlow, { StepHandler, WorkFlow } from 'deflow';
import fetchPrices from './steps/fetch-prices.js';

// Defined here, only this process can run it; handlers other processes run live in their own modules.
const report = new StepHandler({
  name: 'report',
  async handler(task, step) {
    const prices = await (await step.getWorkflow()).getStep('fetch-prices');
    return (await prices.getResults()).map((t) => `${t.result.currency}=${t.result.rate}`).join(' ');
  },
});

DeFlow.register(); // embedded SQLite under ./.deflow/; this process is also a worker

const workflow = WorkFlow.create('prices')
  .addStep({ step: fetchPrices })
  .addStep({ step: report, tasks: ['all'] }) // runs after fetch-prices
  .run();

workflow.on('nextTask', (task) => console.log('started', task.id));
const result = await workflow.done(); // rejects with WorkflowFailedError if a step fails for good
console.log(result.steps.at(-1).tasks[0].result); // EUR=1.3 GBP=1.3 JPY=1.3
await DeFlow.unregister();
