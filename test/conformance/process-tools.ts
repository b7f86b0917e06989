/** What the multi-process conformance files share: finding a child's node, expiring its lease, reading its messages. */
import { expect } from 'vitest';
import DeFlow from '../../src/index.js';
import type { WorkflowResult } from '../../src/index.js';
import type { EchoResult } from '../fixtures/steps/echo.js';
import type { NodeProcess } from '../helpers/nodes.js';
import type { Conformance } from './context.js';
import { eventually } from './context.js';

/** The node id a child process registered under (it stays listed until declared dead). */
export async function nodeIdOf(node: NodeProcess): Promise<string> {
  const { backend } = await DeFlow.getInstance().services();
  return eventually(async () => (await backend.listNodes()).find((record) => record.pid === node.pid)?.id);
}

/** Ends a stopped or killed child's lease in the store now, so the next watchdog round declares it dead. */
export async function expireLease(t: Conformance, nodeId: string): Promise<void> {
  await t.backend.expireNode(t.options(), nodeId);
}

/** Values of the tasks each node announced starting, across nodes. */
export function starts(nodes: readonly NodeProcess[]): number[] {
  return nodes.flatMap((node) => node.messages.filter((m) => m.type === 'start').map((m) => Number(m.value)));
}

export function echoResults(result: WorkflowResult, stepIndex = 0): EchoResult[] {
  return (result.steps[stepIndex]?.tasks ?? []).map((task) => task.result as EchoResult);
}

/** Where the backend keeps successes in more than one place: each task's is there once. */
export async function expectStoredOnce(t: Conformance, count: number): Promise<void> {
  if (t.backend.storedSuccesses === undefined) return;
  const successes = await t.backend.storedSuccesses(t.options());
  expect(successes.size).toBe(count);
  expect([...successes.values()].every((n) => n === 1)).toBe(true);
}

/** The child died where its armed fault point said (SIGKILL, and the point's own last words). */
export async function expectCrashedAt(node: NodeProcess, point: string): Promise<void> {
  const { signal } = await node.exited;
  expect(signal).toBe('SIGKILL');
  await eventually(() => (node.stderr().includes(`deflow fault point ${point}: crash`) ? true : undefined));
}
