/**
 * How ls and show name a workflow's status: a `running` one while no node is registered with a
 * live lease reads `running (no live node)`, since nothing is running it (its nodes are gone or
 * were never started), and it waits for a node to start.
 */
import type { Backend, WorkflowStatus } from '../backends/backend.js';

/** Whether some node's lease is current (by the backend's clock). */
export async function anyLiveNode(backend: Backend): Promise<boolean> {
  const [nodes, now] = await Promise.all([backend.listNodes(), backend.now()]);
  return nodes.some((node) => node.leaseExpiresAt > now);
}

export function shownStatus(status: WorkflowStatus, liveNode: boolean): string {
  return status === 'running' && !liveNode ? 'running (no live node)' : status;
}
