import { StepHandler } from 'deflow';

/** Closes an order once it was paid and delivered: `step.events` holds what it waited for. */
export default new StepHandler<unknown, string, string>({
  name: 'close-order',
  handler: (task, step) => `${task.data} closed after ${step.events.map((event) => `${event.name} ${JSON.stringify(event.data)}`).join(', ')}`,
});
