import { StepHandler } from 'deflow';

/** Sends one message per task; stands for an email or a webhook. */
export default new StepHandler<{ channel: string }, string, string>({
  name: 'notify',
  handler: (task, step) => `[${step.data.channel}] ${task.data}`,
});
