/** Listening to a workflow: an event name it never emits is refused, not silently waited on. */
import { describe, expect, it } from 'vitest';
import { ValidationError, WorkFlow } from '../../src/index.js';

describe('workflow event names', () => {
  it('refuses an unknown event name in on(), once(), off() and listenerCount(), listing the known ones', () => {
    const workflow = WorkFlow.create('events-typo');
    const listener = (): void => undefined;
    for (const call of [
      () => workflow.on('Done' as never, listener),
      () => workflow.once('finish' as never, listener),
      () => workflow.off('completed' as never, listener),
      () => workflow.events.on('task' as never, listener),
      () => workflow.listenerCount('nexttask' as never),
    ]) {
      expect(call).toThrow(ValidationError);
      expect(call).toThrow(/emits no event "\w+"; its events are "done", "error", "nextTask", "step", "event"/);
    }
    expect(workflow.listenerCount('done')).toBe(0);
  });

  it('takes the known names', () => {
    const workflow = WorkFlow.create('events-known');
    const listener = (): void => undefined;
    workflow.on('done', listener).once('error', listener).on('nextTask', listener).on('step', listener);
    expect(['done', 'error', 'nextTask', 'step'].map((name) => workflow.listenerCount(name as 'done'))).toEqual([1, 1, 1, 1]);
    workflow.off('done', listener);
    expect(workflow.listenerCount('done')).toBe(0);
  });
});
