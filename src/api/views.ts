/** Builds the public Task and Step objects the engine hands to user code. */
import type { ViewFactory } from '../engine/handler-contract.js';
import { stepFromContext } from './step.js';
import { Task } from './task.js';

// Same extension as this file: .ts when running from source, .js from the build.
const ISOLATION_ENTRY = new URL(`./isolated-worker${import.meta.url.slice(import.meta.url.lastIndexOf('.'))}`, import.meta.url).href;

export const views: ViewFactory = {
  task: (context) => Task.fromJob(context.job),
  step: (context) => stepFromContext(context),
  isolationEntry: ISOLATION_ENTRY,
};
