/**
 * Server-Sent Events: workflow, step and task progress, from ONE backend subscription shared by
 * every open stream (opened with the first, dropped with the last).
 *
 * A backend event names what changed; the hub re-reads it (coalesced: one read per workflow per
 * `flushMs`) and sends what differs from what it sent last. Task counts move without events, so
 * workflows a stream follows (`?workflow=<id>`) are re-read every `pollMs` while they run. A
 * `wake` (SQLite: another process committed, the backend cannot say what) re-reads the newest
 * workflows and the followed ones.
 * A stream that falls behind (the client stopped reading) is closed rather than buffered.
 *
 * Sent: `workflow` (a workflow's record), `steps` (a followed workflow's steps with their task
 * counts), `task` (a task attempt started, when some handle watches them), `resync` (events
 * may have been missed: reload), and a comment line every `heartbeatMs`.
 */
import type { ServerResponse } from 'node:http';
import type { Backend, BackendEvent } from '../backends/backend.js';
import { stepView, workflowView } from './views.js';

export interface StreamTiming {
  heartbeatMs: number;
  pollMs: number;
  flushMs: number;
}

interface Client {
  raw: ServerResponse;
  /** Only this workflow's events (and its steps); null: every workflow, without steps. */
  workflowId: string | null;
}

/** A client more than this behind is dropped. */
const MAX_BUFFERED_BYTES = 1 << 20;
/** Workflows whose last sent state is remembered (to send only changes). */
const MAX_REMEMBERED = 5_000;
/** How many of the newest workflows a wake re-reads. */
const RESCAN_NEWEST = 50;
const TERMINAL = new Set(['succeeded', 'failed', 'cancelled']);

export class StreamHub {
  private readonly clients = new Set<Client>();
  private readonly dirty = new Set<string>();
  private readonly sentWorkflow = new Map<string, string>();
  private readonly sentSteps = new Map<string, string>();
  private unsubscribe: (() => void) | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private poll: NodeJS.Timeout | null = null;
  private flushTimer: NodeJS.Timeout | null = null;
  private flushing = false;
  private closed = false;
  /** A wake came: the next flush also re-reads the newest workflows. */
  private rescan = false;

  constructor(
    private readonly backend: Backend,
    private readonly timing: StreamTiming,
    private readonly onError: (error: unknown) => void,
  ) {}

  get size(): number {
    return this.clients.size;
  }

  /** Takes over a response: headers, the first state, then events until either side closes. */
  open(raw: ServerResponse, workflowId: string | null): void {
    if (this.closed) {
      raw.writeHead(503).end();
      return;
    }
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    const client: Client = { raw, workflowId };
    this.clients.add(client);
    raw.on('close', () => this.drop(client));
    raw.write(`retry: 3000\n\n`);
    this.send(client, 'hello', { heartbeatMs: this.timing.heartbeatMs, workflowId });
    this.start();
    if (workflowId !== null) {
      // The follower gets the current state at once, even if it equals what others were sent.
      this.sentWorkflow.delete(workflowId);
      this.sentSteps.delete(workflowId);
      this.markDirty(workflowId);
    }
  }

  /** Ends every stream and the subscription (the server is closing). */
  close(): void {
    this.closed = true;
    for (const client of [...this.clients]) client.raw.end();
    this.clients.clear();
    this.stop();
  }

  private start(): void {
    if (this.unsubscribe !== null) return;
    this.unsubscribe = this.backend.subscribe((event) => this.onEvent(event));
    this.heartbeat = setInterval(() => {
      for (const client of this.clients) this.write(client, ': heartbeat\n\n');
    }, this.timing.heartbeatMs);
    this.poll = setInterval(() => this.pollFollowed(), this.timing.pollMs);
    this.heartbeat.unref();
    this.poll.unref();
  }

  private stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
    for (const timer of [this.heartbeat, this.poll, this.flushTimer]) if (timer !== null) clearTimeout(timer);
    this.heartbeat = this.poll = this.flushTimer = null;
    this.dirty.clear();
  }

  private drop(client: Client): void {
    this.clients.delete(client);
    if (this.clients.size === 0) this.stop();
  }

  private onEvent(event: BackendEvent): void {
    switch (event.type) {
      case 'work':
      case 'step':
      case 'workflow':
        this.markDirty(event.workflowId);
        return;
      case 'nextTask':
        for (const client of this.interested(event.workflowId)) {
          this.send(client, 'task', { workflowId: event.workflowId, stepId: event.stepId, taskId: event.taskId, attempt: event.attempt });
        }
        return;
      case 'wake':
        this.rescan = true;
        for (const client of this.clients) if (client.workflowId !== null) this.markDirty(client.workflowId);
        if ([...this.clients].some((client) => client.workflowId === null)) this.scheduleFlush();
        return;
      case 'resync':
        this.sentWorkflow.clear();
        this.sentSteps.clear();
        for (const client of this.clients) {
          this.send(client, 'resync', {});
          if (client.workflowId !== null) this.markDirty(client.workflowId);
        }
        return;
      default:
        return;
    }
  }

  private interested(workflowId: string): Client[] {
    return [...this.clients].filter((client) => client.workflowId === null || client.workflowId === workflowId);
  }

  private markDirty(workflowId: string): void {
    if (this.interested(workflowId).length === 0) return;
    this.dirty.add(workflowId);
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    this.flushTimer ??= setTimeout(() => {
      this.flushTimer = null;
      void this.flush();
    }, this.timing.flushMs);
  }

  private pollFollowed(): void {
    for (const client of this.clients) {
      const id = client.workflowId;
      if (id === null) continue;
      const last = this.sentWorkflow.get(id);
      if (last === undefined || !TERMINAL.has((JSON.parse(last) as { status: string }).status)) this.markDirty(id);
    }
  }

  private async flush(): Promise<void> {
    if (this.flushing) {
      // One read round at a time; the ids stay dirty for the next one.
      this.scheduleFlush();
      return;
    }
    this.flushing = true;
    const ids = [...this.dirty];
    this.dirty.clear();
    const rescan = this.rescan;
    this.rescan = false;
    try {
      if (rescan) for (const record of await this.backend.listWorkflows({ limit: RESCAN_NEWEST })) this.sendIfChanged(workflowView(record));
      for (const id of ids) await this.refresh(id);
    } catch (error) {
      this.onError(error);
    } finally {
      this.flushing = false;
    }
  }

  private async refresh(workflowId: string): Promise<void> {
    const clients = this.interested(workflowId);
    if (clients.length === 0) return;
    const record = await this.backend.getWorkflow(workflowId);
    if (record === null) return;
    // Steps first: a follower that stops at the workflow's end has seen its last counts.
    if (clients.some((client) => client.workflowId === workflowId)) {
      const steps = (await this.backend.getSteps(workflowId)).map(stepView);
      const stepsText = JSON.stringify(steps);
      if (this.sentSteps.get(workflowId) !== stepsText) {
        remember(this.sentSteps, workflowId, stepsText);
        for (const client of this.clients) if (client.workflowId === workflowId) this.send(client, 'steps', { workflowId, steps });
      }
    }
    this.sendIfChanged(workflowView(record));
  }

  private sendIfChanged(view: ReturnType<typeof workflowView>): void {
    const id = String(view.id);
    const text = JSON.stringify(view);
    if (this.sentWorkflow.get(id) === text) return;
    remember(this.sentWorkflow, id, text);
    for (const client of this.interested(id)) this.send(client, 'workflow', view);
  }

  private send(client: Client, event: string, data: unknown): void {
    this.write(client, `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  private write(client: Client, text: string): void {
    if (client.raw.writableLength > MAX_BUFFERED_BYTES) {
      client.raw.destroy();
      this.drop(client);
      return;
    }
    client.raw.write(text);
  }
}

function remember(map: Map<string, string>, key: string, value: string): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > MAX_REMEMBERED) {
    const oldest = map.keys().next();
    if (oldest.done !== true) map.delete(oldest.value);
  }
}
