// deflow/workestrator's types: what Workestrator code relies on compiles, with useful types.
import { expectTypeOf, test } from 'vitest';
import workestrator, {
  create,
  Serializer,
  type WorkestratorFarm,
  type WorkestratorMessage,
  type WorkestratorWorker,
} from '../../src/workestrator/index.js';
import type * as Basic from '../pool/fixtures/basic.js';

declare const untyped: WorkestratorFarm;
declare const typed: WorkestratorFarm<typeof Basic>;

test('untyped calls take anything and return unknown', () => {
  expectTypeOf(untyped.run(1, [], '')).toEqualTypeOf<Promise<unknown>>();
  expectTypeOf(untyped.runMethod('foo', 1, 2, 3)).toEqualTypeOf<Promise<unknown>>();
  expectTypeOf(untyped.broadcast(1)).toEqualTypeOf<Promise<[results: unknown[], errors: Error[]]>>();
  expectTypeOf(untyped.kill()).toEqualTypeOf<Promise<void>>();
  expectTypeOf(workestrator.create({ module: '/abs/worker.js' })).toEqualTypeOf<WorkestratorFarm>();
  expectTypeOf(workestrator.kill()).toEqualTypeOf<Promise<void>>();
  expectTypeOf(workestrator.serializers.CBOR).toEqualTypeOf<string>();
});

test('a farm typed by its module checks arguments and infers results', () => {
  expectTypeOf(typed.run(1, 2)).toEqualTypeOf<Promise<number>>();
  expectTypeOf(create<typeof Basic>({ module: '/abs/worker.js' }).runMethod('count')).toEqualTypeOf<Promise<number>>();
  // @ts-expect-error no such export
  void typed.runMethod('missing');
});

test('events have their documented arguments', () => {
  untyped.on('online', (worker) => expectTypeOf(worker).toEqualTypeOf<WorkestratorWorker>());
  untyped.on('message', (worker, data) => {
    expectTypeOf(worker).toEqualTypeOf<WorkestratorWorker>();
    expectTypeOf(data).toEqualTypeOf<WorkestratorMessage>();
    expectTypeOf(data.callId).toEqualTypeOf<number>();
    expectTypeOf(data.err).toEqualTypeOf<Error | undefined>();
  });
  untyped.on('error', (worker, error) => {
    expectTypeOf(worker).toEqualTypeOf<WorkestratorWorker | null>();
    expectTypeOf(error).toEqualTypeOf<Error>();
  });
  untyped.on('exit', (_worker, code, signal) => {
    expectTypeOf(code).toEqualTypeOf<number | null>();
    expectTypeOf(signal).toEqualTypeOf<string | null>();
  });
  untyped.workers[0]?.on('exit', (code) => expectTypeOf(code).toEqualTypeOf<number | null>());
  // @ts-expect-error not an event
  untyped.on('nope', () => {});
});

test('a serializer extends Serializer', () => {
  class Upper extends Serializer {
    encode(data: unknown): string {
      return JSON.stringify(data);
    }
    decode(data: unknown): unknown {
      return JSON.parse(data as string);
    }
  }
  expectTypeOf(new Upper()).toMatchTypeOf<Serializer>();
  // @ts-expect-error decode is missing
  class Half extends Serializer {
    encode(data: unknown): string {
      return String(data);
    }
  }
  void Half;
});
