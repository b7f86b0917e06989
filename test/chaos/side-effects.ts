/**
 * The side-effect log: every chaos handler appends one line per attempt to its process's own
 * file. appendFileSync is one write(2) of the whole line with O_APPEND, so a line is either all
 * there or absent when the process is killed (a kill -9 loses nothing the kernel accepted).
 */
import { appendFileSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export type Phase = 'task' | 'beforeAll' | 'afterAll' | 'afterEach' | 'onHandlerError';

export interface SideEffect {
  /** Workflow id. */
  wf: string;
  /** Step name (unique within a chaos workflow). */
  step: string;
  phase: Phase;
  /** Task seq, for task, afterEach and onHandlerError lines. */
  seq?: number;
  /** 1 + failed attempts before this one (tasks; hooks do not expose theirs). */
  attempt?: number;
  /** `start` when the attempt began, `end` when it returned (a task's end carries the token it returned). */
  at: 'start' | 'end';
  /** Unique per attempt: `<node>:<n>`; a stored task result names the attempt that produced it. */
  token: string;
  node: string;
  /** Date.now() when written (start lines). */
  t?: number;
}

let counter = 0;

/** The node name and log file of this process, set by the chaos worker before any handler runs. */
function target(): { node: string; file: string } {
  const node = process.env.CHAOS_NODE;
  const dir = process.env.CHAOS_LOG_DIR;
  if (node === undefined || dir === undefined) throw new Error('chaos handlers need CHAOS_NODE and CHAOS_LOG_DIR');
  return { node, file: join(dir, `${node}.jsonl`) };
}

export function newToken(): string {
  return `${target().node}:${++counter}`;
}

export function logEffect(effect: Omit<SideEffect, 'node'>): void {
  const { node, file } = target();
  appendFileSync(file, `${JSON.stringify({ ...effect, node, ...(effect.at === 'start' ? { t: Date.now() } : {}) })}\n`);
}

/** Every side effect written under `dir` (a line cut short by a kill is skipped). */
export function readEffects(dir: string): SideEffect[] {
  const effects: SideEffect[] = [];
  for (const name of readdirSync(dir)) {
    if (!name.endsWith('.jsonl') || name.startsWith('creator')) continue;
    for (const line of readFileSync(join(dir, name), 'utf8').split('\n')) {
      if (line.trim() === '') continue;
      try {
        effects.push(JSON.parse(line) as SideEffect);
      } catch {
        // a torn last line: the process died while writing it
      }
    }
  }
  return effects;
}
