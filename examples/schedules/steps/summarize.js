// steps/summarize.js — what each tick does (a report, a cleanup, a sync...)
import { StepHandler } from 'deflow';

export default new StepHandler({
  name: 'summarize',
  async handler(task) {
    return `summary for ${task.data.period}`;
  },
});
