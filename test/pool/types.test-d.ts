// Types of a farm flow from its worker module: argument and result types of run/runMethod.
import { expectTypeOf, test } from 'vitest';
import { createFarm, type Farm } from '../../src/pool/index.js';
import type * as Basic from './fixtures/basic.js';

declare const typed: Farm<typeof Basic>;
declare const untyped: Farm;

test('a typed farm checks arguments and infers results', () => {
  expectTypeOf(typed.run(1, 2)).toEqualTypeOf<Promise<number>>();
  expectTypeOf(typed.runMethod('sleep', 5)).toEqualTypeOf<Promise<unknown>>();
  expectTypeOf(typed.runMethod('whoami')).toEqualTypeOf<Promise<{ pid: number; threadId: number }>>();
  expectTypeOf(typed.runMethod('count')).toEqualTypeOf<Promise<number>>();
  expectTypeOf(typed.broadcastMethod('count')).toEqualTypeOf<Promise<[results: number[], errors: Error[]]>>();

  // @ts-expect-error the default export takes numbers
  void typed.run('1', 2);
  // @ts-expect-error no such export
  void typed.runMethod('missing');
  // @ts-expect-error not a function export
  void typed.runMethod('CustomError', 'x', 'y', { attempt: 1 });
});

test('an untyped farm takes anything and returns unknown', () => {
  expectTypeOf(untyped.run(1, 'a', {})).toEqualTypeOf<Promise<unknown>>();
  expectTypeOf(untyped.runMethod('anything', 1)).toEqualTypeOf<Promise<unknown>>();
  expectTypeOf(untyped.call({ method: 'x', args: [1] })).toEqualTypeOf<Promise<unknown>>();
  expectTypeOf(createFarm({ module: '/abs/worker.js' })).toEqualTypeOf<Farm>();
});
