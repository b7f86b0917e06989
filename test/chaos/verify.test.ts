/**
 * The chaos verdict can fail: a run that is right in every respect passes, and each kind of
 * damage a chaos run can do (a lost task, a result no attempt returned, a hook that never ran, a
 * step event heard twice or never, a wrong status, a lost workflow) is reported.
 */
import { describe, expect, it } from 'vitest';
import type { CreatorRecord } from './creator-records.js';
import { drawPlan, expectedOf } from './plan.js';
import type { Plan } from './plan.js';
import { Random } from './random.js';
import type { SideEffect } from './side-effects.js';
import { verify } from './verify.js';
import type { Facts, StoredWorkflow } from './verify.js';

function planOf(variant: Plan['variant']): Plan {
  const random = new Random(1);
  for (;;) {
    const plan = drawPlan(random);
    if (plan.variant === variant) return plan;
  }
}

/** The facts of a flawless run of one workflow. */
function flawless(plan: Plan, wf = 'wf-1'): Facts & { stored: Map<string, StoredWorkflow> } {
  const expected = expectedOf(plan);
  // Task values are unique within a plan; a flaky task records its one failed attempt.
  const flakyValues = new Set([...plan.fan.tasks, ...plan.fan.extra, ...plan.fan.post, ...plan.left, ...plan.right, ...plan.rescue].filter((t) => t.flaky === true).map((t) => t.value));
  const creator: CreatorRecord[] = [{ type: 'plan', wf, plan }];
  const effects: SideEffect[] = [];
  const steps: StoredWorkflow['steps'] = Object.entries(expected.steps).map(([name, want], i) => {
    for (const phase of want.hooks) {
      effects.push({ wf, step: name, phase, at: 'start', token: `h${i}${phase}`, node: 'w1' });
      effects.push({ wf, step: name, phase, at: 'end', token: `h${i}${phase}`, node: 'w1' });
    }
    const tasks = want.values.map((value, j) => {
      const seq = j + 1;
      const token = `t${i}.${seq}`;
      const failing = want.failing.includes(seq);
      effects.push({ wf, step: name, phase: 'task', seq, attempt: 1, at: 'start', token, node: 'w1' });
      if (!failing) effects.push({ wf, step: name, phase: 'task', seq, attempt: 1, at: 'end', token, node: 'w1' });
      if (want.sideHooks) effects.push({ wf, step: name, phase: 'afterEach', seq, at: 'end', token, node: 'w1' });
      const flaky = flakyValues.has(value);
      return { seq, status: failing ? 'failed' : 'succeeded', data: { value, flaky }, result: failing ? undefined : { value, token }, failedCount: failing || flaky ? 1 : 0 };
    });
    creator.push({ type: 'step', wf, stepId: String(i + 1), status: want.status });
    return { id: String(i + 1), name, status: want.status, error: null, finishedAt: null, tasks };
  });
  creator.push({ type: 'done', wf, status: expected.status });
  return { creator, effects, stored: new Map([[wf, { status: expected.status, error: null, steps }]]) };
}

describe('the chaos verdict', () => {
  for (const variant of ['ok', 'handled', 'unhandled'] as const) {
    it(`passes a flawless ${variant} workflow`, () => {
      const verdict = verify(flawless(planOf(variant)));
      expect(verdict.violations).toEqual([]);
      expect(verdict.missedEvents).toEqual([]);
    });
  }

  it('reports a lost task', () => {
    const facts = flawless(planOf('ok'));
    facts.stored.get('wf-1')!.steps.find((step) => step.name === 'fan')!.tasks.pop();
    expect(verify(facts).violations).toEqual([expect.stringMatching(/step fan: tasks hold values .* \(a task lost or added twice\)/)]);
  });

  it('reports a task that did not finish', () => {
    const facts = flawless(planOf('ok'));
    const task = facts.stored.get('wf-1')!.steps.find((step) => step.name === 'left')!.tasks[0]!;
    task.status = 'ready';
    expect(verify(facts).violations).toEqual([expect.stringMatching(/step left task 1: ready after 0 failed attempts, expected succeeded/)]);
  });

  it('reports a node loss counted as a failed attempt', () => {
    const facts = flawless(planOf('ok'));
    facts.stored.get('wf-1')!.steps.find((step) => step.name === 'left')!.tasks[0]!.failedCount += 1;
    expect(verify(facts).violations).toEqual([expect.stringMatching(/step left task 1: [12] failed attempts recorded, expected [01] \(node losses must not count as failures\)/)]);
  });

  it('reports a stored result that no attempt returned', () => {
    const facts = flawless(planOf('ok'));
    facts.stored.get('wf-1')!.steps.find((step) => step.name === 'join')!.tasks[0]!.result = { value: 1, token: 'w9:1' };
    expect(verify(facts).violations).toEqual([expect.stringMatching(/step join task 1: its result names attempt w9:1, which never returned/)]);
  });

  it('reports an afterEach missing for the recorded attempt', () => {
    const facts = flawless(planOf('ok'));
    facts.effects = facts.effects.filter((effect) => !(effect.phase === 'afterEach' && effect.step === 'right' && effect.seq === 1));
    expect(verify(facts).violations).toEqual([expect.stringMatching(/step right task 1: afterEach never ran/)]);
  });

  it('reports an afterAll that never returned', () => {
    const facts = flawless(planOf('ok'));
    facts.effects = facts.effects.filter((effect) => !(effect.phase === 'afterAll' && effect.step === 'fan' && effect.at === 'end'));
    expect(verify(facts).violations).toEqual([expect.stringMatching(/step fan: afterAll never returned, yet the step is succeeded/)]);
  });

  it('reports a step stored twice, a step event heard twice or never, and a missed done', () => {
    const facts = flawless(planOf('ok'));
    const stored = facts.stored.get('wf-1')!;
    stored.steps.push({ ...stored.steps[0]!, id: '99' });
    facts.creator = facts.creator.filter((entry) => entry.type !== 'done');
    facts.creator.push({ type: 'step', wf: 'wf-1', stepId: '2', status: 'succeeded' });
    const { violations, missedEvents } = verify(facts);
    expect(violations).toEqual(
      expect.arrayContaining([expect.stringMatching(/step fan-pre stored 2 times/), expect.stringMatching(/heard 2 'step' events for step fan \(id 2\)/)]),
    );
    expect(missedEvents).toEqual([
      expect.stringMatching(/heard no 'step' event for step fan-pre \(id 99\)/),
      expect.stringMatching(/heard no 'done' event/),
    ]);
  });

  it('reports a wrong workflow or step status', () => {
    const facts = flawless(planOf('handled'));
    const stored = facts.stored.get('wf-1')!;
    stored.status = 'failed';
    stored.steps.find((step) => step.name === 'rescue')!.status = 'skipped';
    const { violations } = verify(facts);
    expect(violations).toEqual(
      expect.arrayContaining([expect.stringMatching(/\(handled\): status failed, expected succeeded/), expect.stringMatching(/step rescue: status skipped, expected succeeded/)]),
    );
  });

  it('reports a lost workflow, and accepts one whose creation failed before it ran', () => {
    const lost = flawless(planOf('ok'));
    lost.stored.set('wf-1', null as unknown as StoredWorkflow);
    expect(verify(lost).violations).toEqual([expect.stringMatching(/lost: not in the store, although handlers ran for it/)]);
    const neverStored: Facts = { creator: [{ type: 'plan', wf: 'wf-2', plan: planOf('ok') }, { type: 'start-error', wf: 'wf-2', message: 'down' }], effects: [], stored: new Map([['wf-2', null]]) };
    const verdict = verify(neverStored);
    expect(verdict.violations).toEqual([]);
    expect(verdict.stats.neverStored).toBe(1);
  });
});
