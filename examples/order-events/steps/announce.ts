import { StepHandler } from 'deflow';

/**
 * Stands for a service that reports back with an event (a payment provider's webhook, a
 * courier's tracking feed): each task emits the step's event, with the task's data.
 * `silent: true` stands for a report that never comes.
 */
export default new StepHandler<{ event: string; silent?: boolean }, Record<string, unknown>, string>({
  name: 'announce',
  async handler(task, step) {
    if (step.data.silent === true) return `${step.data.event}: nothing heard`;
    await step.emit(step.data.event, task.data);
    return `${step.data.event} sent`;
  },
});
