/**
 * The step runners of one node, one per step it runs: discovery and adoption add them, the
 * node asks all of them at once what they hold, waits until none holds a job, and stops or
 * empties them with the node.
 */
import type { ClaimedJob } from '../backends/backend.js';
import type { Clock } from '../clock.js';
import { runnerKey } from './step-runner.js';
import type { StepRunner } from './step-runner.js';
import type { HostedRunner } from './step-runner-host.js';

export class RunnerSet {
  private readonly runners = new Map<string, StepRunner>();
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly clock: Clock) {}

  get(workflowId: string, stepId: string): StepRunner | undefined {
    return this.runners.get(runnerKey(workflowId, stepId));
  }

  add(runner: StepRunner): void {
    this.runners.set(runner.key, runner);
  }

  /** Drops a runner that went idle with its step drained; a later work event starts a new one. */
  dropIfDone(runner: HostedRunner): void {
    const held = this.runners.get(runner.key);
    if (runner.idle && runner.isDrained && held === runner) {
      this.runners.delete(runner.key);
      held.retire();
    }
  }

  /** Jobs running or queued on the whole node. */
  activeJobs(): number {
    let total = 0;
    for (const runner of this.runners.values()) total += runner.active;
    return total;
  }

  /** Ids of the jobs the runners hold, or undefined while a claim is in flight (unknowable). */
  heldJobIds(): string[] | undefined {
    const held: string[] = [];
    for (const runner of this.runners.values()) {
      if (runner.claimInFlight) return undefined;
      held.push(...runner.heldJobIds());
    }
    return held;
  }

  kickAll(): void {
    for (const runner of this.runners.values()) runner.kick();
  }

  /** The node lost its lease: every claimed job is gone. */
  forgetAll(): void {
    for (const runner of this.runners.values()) runner.forget();
  }

  /** A workflow was cancelled: its runners drop the jobs they hold unstarted (no longer theirs). */
  forgetWorkflow(workflowId: string): void {
    for (const runner of this.runners.values()) if (runner.step.workflowId === workflowId) runner.forget();
  }

  /** Stops every runner; returns the claimed jobs that never started. */
  stopAll(): ClaimedJob[] {
    return [...this.runners.values()].flatMap((runner) => {
      runner.retire();
      return runner.stop();
    });
  }

  /** Somebody listens for nextTask events of this workflow: its running steps publish them. */
  watchNextTask(workflowId: string): void {
    for (const runner of this.runners.values()) {
      if (runner.step.workflowId === workflowId) runner.watchNextTask = true;
    }
  }

  clear(): void {
    for (const runner of this.runners.values()) runner.retire();
    this.runners.clear();
  }

  /** Resolves true once no job runs or waits on the node, false after `timeoutMs`. */
  whenIdle(timeoutMs: number): Promise<boolean> {
    if (this.activeJobs() === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = this.clock.after(timeoutMs, () => resolve(false));
      this.idleWaiters.push(() => {
        timer.cancel();
        resolve(true);
      });
    });
  }

  /** The node went idle (or stopped for good): whoever waits in whenIdle goes on. */
  wakeIdleWaiters(): void {
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}
