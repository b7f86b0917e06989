/**
 * A step on a queue that no node serves waits forever, silently. run() reads the node registry
 * (only when some step names a queue other than the default and this process's own) and warns
 * once per queue and process (no node at all is another matter: `deflow show` says it); `deflow show` says the same for each waiting step (unservedQueues).
 */
import type { Backend, NewStep, NodeRecord, StepRecord } from '../backends/backend.js';
import { DEFAULT_QUEUE, queueOf } from '../backends/policy.js';

const warned = new Set<string>();

/** Queues of `queues` that no registered node serves. */
export function unservedQueues(queues: Iterable<string>, nodes: readonly NodeRecord[]): string[] {
  const served = new Set(nodes.flatMap((node) => node.queues));
  return [...new Set(queues)].filter((queue) => !served.has(queue));
}

/** The words `deflow show` and the warning use for a step waiting on an unserved queue. */
export function waitingForQueue(queue: string): string {
  return `waiting for a node serving queue ${queue}`;
}

export async function warnUnservedQueues(backend: Backend, workflowName: string, steps: readonly NewStep[], ownQueues: readonly string[]): Promise<void> {
  const others = steps.filter((step) => {
    const queue = queueOf(step.options);
    return queue !== DEFAULT_QUEUE && !ownQueues.includes(queue) && !warned.has(queue);
  });
  if (others.length === 0) return;
  const missing = unservedQueues(others.map((step) => queueOf(step.options)), await backend.listNodes());
  for (const queue of missing) {
    warned.add(queue);
    const step = others.find((candidate) => queueOf(candidate.options) === queue);
    process.emitWarning(
      `step "${step?.name ?? '?'}" of workflow "${workflowName}" is on queue "${queue}", which no node serves: it is ${waitingForQueue(queue)} ` +
        `(start one with DeFlow.register({ queues: [${JSON.stringify(queue)}] }) or deflow worker --queues ${queue})`,
      { type: 'DeflowWarning', code: 'DEFLOW_QUEUE_UNSERVED' },
    );
  }
}

/** `deflow show`: a line per unfinished step whose queue no registered node serves. */
export function unservedStepLines(steps: readonly StepRecord[], nodes: readonly NodeRecord[]): string[] {
  const open = steps.filter((step) => step.status === 'running' || step.status === 'waiting');
  const missing = new Set(unservedQueues(open.map((step) => queueOf(step.options)), nodes));
  return open.filter((step) => missing.has(queueOf(step.options))).map((step) => `${step.name} ${waitingForQueue(queueOf(step.options))}`);
}
