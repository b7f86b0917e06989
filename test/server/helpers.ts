/** What the server tests share: a registered store with a server on it, and readers of its answers. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import DeFlow, { StepHandler, WorkFlow } from '../../src/index.js';
import { createServer } from '../../src/server/index.js';
import type { CreateServerOptions, DeflowApp } from '../../src/server/index.js';

export const TOKEN = 'test-token-0123456789abcdef';
export const OTHER_TOKEN = 'other-token-0123456789abcdef';
export const AUTH = { authorization: `Bearer ${TOKEN}` };

const dirs: string[] = [];

export async function registerSqlite(): Promise<DeFlow> {
  const dir = mkdtempSync(join(tmpdir(), 'deflow-server-'));
  dirs.push(dir);
  return DeFlow.register({ backend: `sqlite:${join(dir, 'deflow.db')}` }).ready();
}

export async function cleanup(app?: FastifyInstance): Promise<void> {
  await app?.close();
  await DeFlow.unregister();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

export function serve(options: CreateServerOptions = {}): Promise<DeflowApp> {
  return createServer({ tokens: [TOKEN, OTHER_TOKEN], ...options });
}

/** Sleeps `ms` per task, fails tasks whose data has `fail: true`. */
export const work = new StepHandler<unknown, { n: number; ms?: number; fail?: boolean }, number>({
  name: 'server-test-work',
  async handler(task) {
    if (task.data.ms !== undefined) await new Promise((resolve) => setTimeout(resolve, task.data.ms));
    if (task.data.fail === true) throw new Error(`task ${task.data.n} failed on purpose`);
    return task.data.n * 2;
  },
});

/** A two-step chain (a -> b) with `tasks` tasks in a, one in b; `fail` makes a's tasks with these n fail. */
export function chain(name: string, tasks: number, options: { ms?: number; fail?: number[]; concurrency?: number } = {}): WorkFlow {
  return WorkFlow.create(name)
    .addStep({
      name: 'a',
      step: work,
      tasks: Array.from({ length: tasks }, (_, i) => ({ n: i + 1, ...(options.ms === undefined ? {} : { ms: options.ms }), ...(options.fail?.includes(i + 1) ? { fail: true } : {}) })),
      options: { taskConcurrency: options.concurrency ?? 4, taskMaxFailCount: 1 },
    })
    .addStep({ name: 'b', step: work, tasks: [{ n: 100 }] });
}

/** Prometheus text exposition as `name{labels}` -> value; throws on a line that is neither a sample nor a comment. */
export function parseExposition(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (-?[0-9.e+-]+|NaN|\+Inf|-Inf)$/.exec(line);
    if (match === null) throw new Error(`not an exposition line: ${line}`);
    samples.set(match[1] ?? '', Number(match[2]));
  }
  return samples;
}

/** Sum of every sample of `name` whose labels include `labels` (e.g. `workflow="x"`). */
export function total(samples: Map<string, number>, name: string, ...labels: string[]): number {
  let sum = 0;
  for (const [key, value] of samples) {
    const [metric, rest = ''] = key.split('{');
    if (metric === name && labels.every((label) => rest.includes(label))) sum += value;
  }
  return sum;
}

export interface SseEvent {
  event: string;
  data: unknown;
}

/** Reads an event stream, handing each event to `onEvent` until it returns true (or the stream ends). */
export async function readEvents(url: string, headers: Record<string, string>, onEvent: (event: SseEvent) => boolean, signal?: AbortSignal): Promise<'matched' | 'ended'> {
  const response = await fetch(url, { headers, ...(signal === undefined ? {} : { signal }) });
  if (!response.ok || response.body === null) throw new Error(`stream: HTTP ${response.status}`);
  const decoder = new TextDecoder();
  let buffer = '';
  const reader = response.body.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return 'ended';
      buffer += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event !== undefined && data !== undefined && onEvent({ event, data: JSON.parse(data) })) return 'matched';
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}
