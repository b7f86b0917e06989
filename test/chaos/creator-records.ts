/** What the creator writes to creator.jsonl, one record a line. */
import type { Plan } from './plan.js';

export type CreatorRecord =
  | { type: 'plan'; wf: string; plan: Plan }
  | { type: 'start-error'; wf: string; message: string }
  | { type: 'step'; wf: string; stepId: string; status: string }
  | { type: 'done'; wf: string; status: string };
