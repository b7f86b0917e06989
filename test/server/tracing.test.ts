/**
 * OpenTelemetry: with an SDK registered (an in-memory exporter here), a node writes a span per
 * step it runs and per job attempt, the finishing node one per workflow, all of one workflow in one trace (its id derived from the
 * workflow's), attempts under their step's span; a failed attempt has an error status.
 */
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { SpanStatusCode, trace } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { eventually } from '../conformance/context.js';
import { chain, cleanup, registerSqlite } from './helpers.js';

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });

beforeAll(() => {
  trace.setGlobalTracerProvider(provider);
});
afterAll(async () => {
  trace.disable();
  await provider.shutdown();
});
afterEach(() => cleanup());

it('writes step and attempt spans, one trace per workflow', async () => {
  await registerSqlite();
  const one = chain('traced', 3, { fail: [2] }).run();
  await one.done().catch(() => undefined);
  const two = chain('traced', 1).run();
  await two.done();
  // The finishing node reads the workflow's times before it writes its span.
  await eventually(() => (exporter.getFinishedSpans().filter((span) => span.name === 'deflow.workflow').length === 2 ? true : undefined), 20_000);
  await cleanup(); // runners retire: their step spans end
  const spans = exporter.getFinishedSpans();
  const of = (workflowId: string) => spans.filter((span) => span.attributes['deflow.workflow.id'] === workflowId);
  const first = of(one.id);
  const second = of(two.id);
  expect(new Set(first.map((span) => span.spanContext().traceId)).size).toBe(1);
  expect(new Set(second.map((span) => span.spanContext().traceId)).size).toBe(1);
  expect(first[0]!.spanContext().traceId).not.toBe(second[0]!.spanContext().traceId);

  const tasks = first.filter((span) => span.name === 'deflow.task');
  expect(tasks.map((span) => span.attributes['deflow.job.seq']).sort()).toEqual([1, 2, 3]);
  const failed = tasks.find((span) => span.attributes['deflow.job.seq'] === 2)!;
  expect(failed.status.code).toBe(SpanStatusCode.ERROR);
  expect(failed.attributes['deflow.job.outcome']).toBe('failed');
  const step = first.find((span) => span.name === 'deflow.step' && span.attributes['deflow.step.id'] === '1');
  expect(step).toBeDefined();
  for (const task of tasks) expect(task.parentSpanContext?.spanId).toBe(step!.spanContext().spanId);
  expect(second.filter((span) => span.name === 'deflow.task')).toHaveLength(2);
  // Each workflow's own span, written once by the node that finished it, in the same trace.
  const workflowSpans = first.filter((span) => span.name === 'deflow.workflow');
  expect(workflowSpans).toHaveLength(1);
  expect(workflowSpans[0]!.attributes['deflow.workflow.status']).toBe('failed');
  expect(workflowSpans[0]!.status.code).toBe(SpanStatusCode.ERROR);
  expect(second.filter((span) => span.name === 'deflow.workflow')).toMatchObject([{ attributes: { 'deflow.workflow.status': 'succeeded' } }]);
  expect(spans.filter((span) => span.name === 'deflow.workflow.probe')).toEqual([]);
}, 60_000);
