// workflows/report.js — the definition a schedule starts on each tick
//   npx deflow worker --workflows examples/schedules/workflows   (nodes that fire the ticks)
//   npx deflow schedules                                          (what is scheduled, last and next tick)
import { WorkFlow, defineWorkflow } from 'deflow';
import summarize from '../steps/summarize.js';

export default defineWorkflow('report', (input) => WorkFlow.create('report').addStep({ step: summarize, tasks: [input] }), {
  description: 'summarizes a period',
});
