/** Builds the public Task and Step objects the engine hands to user code. */
import type { ViewFactory } from '../engine/types.js';
import { stepFromContext } from './step.js';
import { Task } from './task.js';

export const views: ViewFactory = {
  task: (context) => Task.fromJob(context.job),
  step: (context) => stepFromContext(context),
};
