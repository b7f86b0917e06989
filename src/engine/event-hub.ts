/**
 * Fans backend events out to the workflow handles of this process. Subscribes to the
 * backend only while some handle listens, so a process with no handle pays nothing.
 */
import createDebug from 'debug';
import type { Backend, BackendEvent } from '../backends/backend.js';

const debug = createDebug('deflow:engine:events');

export type WorkflowEventListener = (event: BackendEvent) => void;

export class EventHub {
  private readonly byWorkflow = new Map<string, Set<WorkflowEventListener>>();
  private unsubscribe: (() => void) | null = null;

  constructor(private readonly backend: Backend) {}

  /** Listens to the events of one workflow; returns the function that stops listening. */
  listen(workflowId: string, listener: WorkflowEventListener): () => void {
    let listeners = this.byWorkflow.get(workflowId);
    if (listeners === undefined) {
      listeners = new Set();
      this.byWorkflow.set(workflowId, listeners);
    }
    listeners.add(listener);
    this.unsubscribe ??= this.backend.subscribe((event) => this.dispatch(event));
    return () => {
      const set = this.byWorkflow.get(workflowId);
      set?.delete(listener);
      if (set?.size === 0) this.byWorkflow.delete(workflowId);
      if (this.byWorkflow.size === 0) this.close();
    };
  }

  close(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
  }

  private dispatch(event: BackendEvent): void {
    if (event.type === 'wake') return;
    // A gap in the event stream concerns every workflow followed here.
    const listeners = event.type === 'resync' ? [...this.byWorkflow.values()].flatMap((set) => [...set]) : this.byWorkflow.get(event.workflowId);
    if (listeners === undefined) return;
    for (const listener of [...listeners]) {
      try {
        listener(event);
      } catch (error) {
        debug('workflow event listener threw: %O', error);
      }
    }
  }
}
