/**
 * The chaos run's verdict, from what the store holds, what the handlers logged and what the
 * creator's handles heard. Pure: the run gathers the facts, this judges them (and a unit test
 * feeds it broken facts to show each check can fail).
 */
import type { CreatorRecord } from './creator-records.js';
import { expectedOf } from './plan.js';
import type { Plan } from './plan.js';
import type { SideEffect } from './side-effects.js';
import type { WorkResult } from './steps.js';

/** The parts of a stored workflow the checks read (a subset of WorkflowResult). */
export interface StoredWorkflow {
  status: string;
  error: { message: string } | null;
  steps: {
    id: string;
    name: string;
    status: string;
    error: { message: string } | null;
    finishedAt: number | null;
    tasks: { seq: number; status: string; data: unknown; result: unknown; failedCount: number; lostCount?: number }[];
  }[];
}

export interface Facts {
  creator: CreatorRecord[];
  effects: SideEffect[];
  /** Stored state of every planned workflow; null when the store does not have it. */
  stored: Map<string, StoredWorkflow | null>;
}

export interface Stats {
  workflows: number;
  byVariant: Record<string, number>;
  succeeded: number;
  failed: number;
  neverStored: number;
  tasks: number;
  taskAttempts: number;
  /** Attempts beyond the first, on tasks meant to succeed (kills, fault points, flaky first attempts). */
  repeatedAttempts: number;
  hookAttempts: number;
  repeatedHooks: number;
  /** Attempts lost with their node, as the store counted them. */
  lostAttempts: number;
  /** Attempts that started after their step had finished (a node that did not know it was declared dead). */
  lateStarts: number;
}

export interface Verdict {
  violations: string[];
  /** Step or workflow ends a handle never heard (a duplicate or a wrong one is a violation). */
  missedEvents: string[];
  stats: Stats;
}

const key = (...parts: (string | number | undefined)[]): string => parts.join('|');

function index(effects: SideEffect[]): { count: Map<string, number>; ends: Set<string>; afterEach: Set<string>; starts: Map<string, number[]> } {
  const count = new Map<string, number>();
  const starts = new Map<string, number[]>();
  const ends = new Set<string>();
  const afterEach = new Set<string>();
  for (const effect of effects) {
    if (effect.at === 'start') {
      const id = key(effect.wf, effect.step, effect.phase, effect.seq);
      count.set(id, (count.get(id) ?? 0) + 1);
      if (effect.t !== undefined) starts.set(key(effect.wf, effect.step), [...(starts.get(key(effect.wf, effect.step)) ?? []), effect.t]);
    } else if (effect.phase === 'task') ends.add(key(effect.wf, effect.step, effect.seq, effect.token));
    else if (effect.phase === 'afterEach') afterEach.add(key(effect.wf, effect.step, effect.seq, effect.token));
    else if (effect.phase === 'beforeAll' || effect.phase === 'afterAll') ends.add(key(effect.wf, effect.step, effect.phase));
  }
  return { count, ends, afterEach, starts };
}

export function verify(facts: Facts): Verdict {
  const violations: string[] = [];
  const missedEvents: string[] = [];
  const stats: Stats = {
    workflows: 0,
    byVariant: {},
    succeeded: 0,
    failed: 0,
    neverStored: 0,
    tasks: 0,
    taskAttempts: 0,
    repeatedAttempts: 0,
    hookAttempts: 0,
    repeatedHooks: 0,
    lateStarts: 0,
    lostAttempts: 0,
  };
  const plans = new Map<string, Plan>();
  const startErrors = new Map<string, string>();
  const stepEvents = new Map<string, { stepId: string; status: string }[]>();
  const doneEvents = new Map<string, string[]>();
  for (const entry of facts.creator) {
    if (entry.type === 'plan') plans.set(entry.wf, entry.plan);
    else if (entry.type === 'start-error') startErrors.set(entry.wf, entry.message);
    else if (entry.type === 'step') stepEvents.set(entry.wf, [...(stepEvents.get(entry.wf) ?? []), { stepId: entry.stepId, status: entry.status }]);
    else doneEvents.set(entry.wf, [...(doneEvents.get(entry.wf) ?? []), entry.status]);
  }
  const effects = index(facts.effects);
  const touched = new Set(facts.effects.map((effect) => effect.wf));

  for (const [wf, plan] of plans) {
    stats.workflows++;
    stats.byVariant[plan.variant] = (stats.byVariant[plan.variant] ?? 0) + 1;
    const stored = facts.stored.get(wf) ?? null;
    const where = `workflow ${wf} (${plan.variant})`;
    if (stored === null) {
      // A workflow whose creation failed (its store was down) may never have been stored; one that ran must still be there.
      if (startErrors.has(wf) && !touched.has(wf)) stats.neverStored++;
      else violations.push(`${where}: lost: not in the store${touched.has(wf) ? ', although handlers ran for it' : ''}`);
      continue;
    }
    const expected = expectedOf(plan);
    if (stored.status === 'succeeded') stats.succeeded++;
    if (stored.status === 'failed') stats.failed++;
    if (stored.status !== expected.status) {
      violations.push(`${where}: status ${stored.status}, expected ${expected.status}${stored.error ? ` (${stored.error.message})` : ''}`);
    }

    const names = stored.steps.map((step) => step.name);
    for (const name of new Set(names)) {
      const times = names.filter((other) => other === name).length;
      if (times > 1) violations.push(`${where}: step ${name} stored ${times} times`);
      if (!(name in expected.steps)) violations.push(`${where}: unexpected step ${name}`);
    }
    for (const [name, want] of Object.entries(expected.steps)) {
      const step = stored.steps.find((candidate) => candidate.name === name);
      const at = `${where} step ${name}`;
      if (step === undefined) {
        violations.push(`${at}: missing`);
        continue;
      }
      const finishedAt = step.finishedAt;
      if (finishedAt !== null) {
        stats.lateStarts += (effects.starts.get(key(wf, name)) ?? []).filter((t) => t > finishedAt).length;
      }
      if (step.status !== want.status) violations.push(`${at}: status ${step.status}, expected ${want.status}${step.error ? ` (${step.error.message})` : ''}`);
      const values = step.tasks.map((task) => (task.data as { value?: number } | null)?.value);
      if (JSON.stringify(values) !== JSON.stringify(want.values)) {
        violations.push(`${at}: tasks hold values ${JSON.stringify(values)}, expected ${JSON.stringify(want.values)} (a task lost or added twice)`);
      }
      for (const task of step.tasks) {
        stats.tasks++;
        const attempts = effects.count.get(key(wf, name, 'task', task.seq)) ?? 0;
        stats.taskAttempts += attempts;
        const failing = want.failing.includes(task.seq);
        if (!failing) stats.repeatedAttempts += Math.max(0, attempts - 1);
        const wantStatus = failing ? 'failed' : 'succeeded';
        if (task.status !== wantStatus) {
          violations.push(`${at} task ${task.seq}: ${task.status} after ${task.failedCount} failed attempts, expected ${wantStatus}`);
          continue;
        }
        stats.lostAttempts += task.lostCount ?? 0;
        if (attempts === 0) violations.push(`${at} task ${task.seq}: ${task.status} but no handler attempt was logged`);
        if (failing) continue;
        // Kills are node losses, never failed attempts: only a flaky task's own first failure counts
        // (the fan's task 1 calls the store, which fails while the server restarts).
        const failures = (task.data as { flaky?: boolean } | null)?.flaky === true ? 1 : 0;
        if (task.failedCount !== failures && !(name === 'fan' && task.seq === 1)) {
          violations.push(`${at} task ${task.seq}: ${task.failedCount} failed attempts recorded, expected ${failures} (node losses must not count as failures)`);
        }
        const token = (task.result as WorkResult | undefined)?.token;
        if (token === undefined) violations.push(`${at} task ${task.seq}: succeeded without a result`);
        else if (!effects.ends.has(key(wf, name, task.seq, token))) violations.push(`${at} task ${task.seq}: its result names attempt ${token}, which never returned`);
        else if (want.sideHooks && !effects.afterEach.has(key(wf, name, task.seq, token))) {
          violations.push(`${at} task ${task.seq}: afterEach never ran for the attempt whose result was stored (${token})`);
        }
      }
      for (const hook of want.hooks) {
        const attempts = effects.count.get(key(wf, name, hook, undefined)) ?? 0;
        stats.hookAttempts += attempts;
        stats.repeatedHooks += Math.max(0, attempts - 1);
        if (!effects.ends.has(key(wf, name, hook))) violations.push(`${at}: ${hook} never returned, yet the step is ${step.status}`);
      }
    }

    // What the creator's handle heard: each step's end once, the workflow's end once.
    if (startErrors.has(wf)) continue; // a handle whose run() failed follows nothing
    const heard = stepEvents.get(wf) ?? [];
    for (const step of stored.steps) {
      const events = heard.filter((event) => event.stepId === step.id);
      if (events.length === 0) missedEvents.push(`${where}: the handle heard no 'step' event for step ${step.name} (id ${step.id})`);
      else if (events.length !== 1) violations.push(`${where}: the handle heard ${events.length} 'step' events for step ${step.name} (id ${step.id}), expected 1`);
      else if (events[0]?.status !== step.status) violations.push(`${where}: 'step' event for ${step.name} says ${events[0]?.status}, the store ${step.status}`);
    }
    for (const event of heard) {
      if (!stored.steps.some((step) => step.id === event.stepId)) violations.push(`${where}: 'step' event for unknown step id ${event.stepId}`);
    }
    const done = doneEvents.get(wf) ?? [];
    if (done.length === 0) missedEvents.push(`${where}: the handle heard no 'done' event`);
    else if (done.length !== 1) violations.push(`${where}: the handle heard ${done.length} 'done' events, expected 1`);
    else if (done[0] !== stored.status) violations.push(`${where}: 'done' says ${done[0]}, the store ${stored.status}`);
  }
  return { violations, missedEvents, stats };
}
