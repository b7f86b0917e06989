/**
 * Named fault points: the instants where a crash or a freeze hurts most, exposed so tests can
 * crash, freeze or fail a node exactly there instead of hoping a random kill lands in the window.
 * Unarmed (always, outside tests) a point costs one boolean check.
 *
 * Arm them in-process with `armFault`, or in a child process through the environment:
 *   DEFLOW_TEST_FAULTS="handler:before-complete=crash@3,claim:before-start=stall:2000"
 * (`@N`: act on the N-th time the point is reached, counting from 1; default the first).
 */
import { writeSync } from 'node:fs';

export const FAULT_POINTS = [
  /** The engine holds freshly claimed jobs and has started none of them. */
  'claim:before-start',
  /** A task handler returned; its outcome has not been sent to the backend. */
  'handler:before-complete',
  /** The backend is applying outcomes and their transitions and has not committed (SQLite: inside the transaction; Redis, PostgreSQL: the call is sent, its answer not read). */
  'complete:in-transition',
  /** A hook's addAfter steps are stored; the hook's own completion is not. */
  'hook:after-add-after',
  /** The PostgreSQL migrator holds the schema's migration lock, inside its transaction, and has changed nothing yet. */
  'migrate:holding-lock',
  /** The event connection (Redis subscriber, PostgreSQL LISTEN) is back after a loss and not subscribed yet: events published now never reach this process. */
  'events:reconnected',
] as const;

export type FaultPointName = (typeof FAULT_POINTS)[number];

export type FaultAction =
  /** SIGKILL this process, as `kill -9` would. */
  | 'crash'
  /** Throw a FaultInjectedError from the point. */
  | 'throw'
  /** Freeze the whole process (the thread blocks) this many milliseconds, as SIGSTOP would. */
  | { stallMs: number }
  /** Anything else: called at the point. */
  | ((name: FaultPointName) => void);

export class FaultInjectedError extends Error {
  readonly code = 'ERR_FAULT_INJECTED';
  constructor(readonly point: FaultPointName) {
    super(`fault injected at ${point}`);
    this.name = 'FaultInjectedError';
  }
}

interface Armed {
  action: FaultAction;
  /** Act when the hit counter reaches this. */
  onHit: number;
  hits: number;
}

const armed = new Map<FaultPointName, Armed>();
let anyArmed = false;

/** Arms a point; returns a function that disarms it. */
export function armFault(name: FaultPointName, action: FaultAction, options: { onHit?: number } = {}): () => void {
  const entry: Armed = { action, onHit: options.onHit ?? 1, hits: 0 };
  armed.set(name, entry);
  anyArmed = true;
  return () => {
    if (armed.get(name) === entry) armed.delete(name);
    anyArmed = armed.size > 0;
  };
}

export function disarmAllFaults(): void {
  armed.clear();
  anyArmed = false;
}

/** Marks a fault point. Synchronous, so it may sit inside a synchronous transaction. */
export function faultPoint(name: FaultPointName): void {
  if (!anyArmed) return;
  const entry = armed.get(name);
  if (entry === undefined) return;
  entry.hits++;
  if (entry.hits !== entry.onHit) return;
  const { action } = entry;
  if (typeof action === 'function') return action(name);
  if (action === 'throw') throw new FaultInjectedError(name);
  if (action === 'crash') {
    // Said synchronously first, so the test that armed it knows where the process died.
    writeSync(2, `deflow fault point ${name}: crash (pid ${process.pid})\n`);
    process.kill(process.pid, 'SIGKILL');
    return;
  }
  writeSync(2, `deflow fault point ${name}: stall ${action.stallMs} ms (pid ${process.pid})\n`);
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, action.stallMs);
}

/** Parses DEFLOW_TEST_FAULTS; a malformed entry is an error (a test that arms nothing would pass for the wrong reason). */
export function parseFaultSpec(spec: string): { name: FaultPointName; action: FaultAction; onHit: number }[] {
  return spec
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part.length > 0)
    .map((part) => {
      const match = /^([a-z-]+:[a-z-]+)=(crash|throw|stall:(\d+))(?:@(\d+))?$/.exec(part);
      const name = match?.[1] as FaultPointName | undefined;
      if (match === null || name === undefined || !(FAULT_POINTS as readonly string[]).includes(name)) {
        throw new Error(`DEFLOW_TEST_FAULTS: cannot read ${JSON.stringify(part)}; expected <point>=crash|throw|stall:<ms>[@<hit>] with a point among ${FAULT_POINTS.join(', ')}`);
      }
      const action: FaultAction = match[3] !== undefined ? { stallMs: Number(match[3]) } : (match[2] as 'crash' | 'throw');
      return { name, action, onHit: match[4] === undefined ? 1 : Number(match[4]) };
    });
}

const fromEnvironment = process.env.DEFLOW_TEST_FAULTS;
if (fromEnvironment !== undefined && fromEnvironment !== '') {
  for (const { name, action, onHit } of parseFaultSpec(fromEnvironment)) armFault(name, action, { onHit });
}
