/**
 * The three systems the benchmark compares, each on its own fresh schema of the same
 * PostgreSQL, with the same number of worker processes: enqueue N no-op jobs, time until
 * the store says every one of them is done.
 */
import { makeWorkerUtils, runMigrations } from 'graphile-worker';
import PgBoss from 'pg-boss';
import DeFlow, { WorkFlow } from '../../src/index.js';
import { DATABASE_URL, dropSchema, pollCount } from './db.js';
import { startWorkers } from './processes.js';
import { noop } from './steps.js';

export interface Timing {
  /** Milliseconds to enqueue the jobs (one call each system). */
  enqueueMs: number;
  /** Milliseconds from the start of the enqueue until the store records the last job done. */
  totalMs: number;
  /** deflow only: until done() resolved, which also reads every task's result back. */
  withResultsMs?: number;
}

export interface Contender {
  name: string;
  /** Fresh schema, `procs` worker processes, then one timed run of `jobs` jobs; cleans up. */
  measure(procs: number, jobs: number, profile?: boolean): Promise<Timing>;
}

export const deflow: Contender = {
  name: 'deflow',
  async measure(procs, jobs, profile = false) {
    const schema = 'bench_deflow';
    await dropSchema(schema);
    DeFlow.register({ backend: DATABASE_URL, schema, worker: false });
    await DeFlow.getInstance().ready();
    const workers = await startWorkers(profile ? 'deflow-profiled' : 'deflow', procs, { url: DATABASE_URL, schema });
    try {
      const tasks = Array.from({ length: jobs }, (_, i) => i);
      const started = performance.now();
      const workflow = WorkFlow.create('bench').addStep({ step: noop, tasks }).run();
      // The workflow finishes in the transaction that records its last task; the handle then
      // gets a 'step' event, and done() reads all results back before it resolves.
      const finished = new Promise<number>((resolve) => workflow.on('step', () => resolve(performance.now())));
      await workflow.started();
      const enqueueMs = performance.now() - started;
      const result = await workflow.done();
      const withResultsMs = performance.now() - started;
      const totalMs = (await finished) - started;
      if (result.steps[0]?.progress.done !== jobs) throw new Error(`deflow finished ${result.steps[0]?.progress.done} of ${jobs}`);
      return { enqueueMs, totalMs, withResultsMs };
    } finally {
      await DeFlow.unregister();
      await workers.stop();
      await dropSchema(schema);
    }
  },
};

export const graphileWorker: Contender = {
  name: 'graphile-worker 0.17 (batched)',
  async measure(procs, jobs) {
    const schema = 'bench_graphile';
    await dropSchema(schema);
    await runMigrations({ connectionString: DATABASE_URL, schema });
    const workers = await startWorkers('graphile', procs, { url: DATABASE_URL, schema });
    const utils = await makeWorkerUtils({ connectionString: DATABASE_URL, schema });
    try {
      const specs = Array.from({ length: jobs }, (_, i) => ({ identifier: 'noop', payload: { i } }));
      const started = performance.now();
      await utils.addJobs(specs);
      const enqueueMs = performance.now() - started;
      await workers.waitFor(jobs);
      // Done means completed in the database: completed jobs are deleted.
      await pollCount(`SELECT count(*)::int AS n FROM ${schema}._private_jobs`, (n) => n === 0);
      return { enqueueMs, totalMs: performance.now() - started };
    } finally {
      await utils.release();
      await workers.stop();
      await dropSchema(schema);
    }
  },
};

export const pgBoss: Contender = {
  name: 'pg-boss 10 (batched)',
  async measure(procs, jobs) {
    const schema = 'bench_pgboss';
    await dropSchema(schema);
    const boss = new PgBoss({ connectionString: DATABASE_URL, schema, supervise: false, schedule: false, max: 2 });
    boss.on('error', (error: Error) => console.error('pg-boss:', error.message));
    await boss.start();
    await boss.createQueue('bench');
    const workers = await startWorkers('pgboss', procs, { url: DATABASE_URL, schema });
    try {
      const rows = Array.from({ length: jobs }, (_, i) => ({ name: 'bench', data: { i } }));
      const started = performance.now();
      await boss.insert(rows);
      const enqueueMs = performance.now() - started;
      await workers.waitFor(jobs);
      await pollCount(`SELECT count(*)::int AS n FROM ${schema}.job WHERE name = 'bench' AND state = 'completed'`, (n) => n >= jobs);
      return { enqueueMs, totalMs: performance.now() - started };
    } finally {
      await boss.stop({ graceful: false, wait: true });
      await workers.stop();
      await dropSchema(schema);
    }
  },
};
