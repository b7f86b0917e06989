/**
 * A graphile-worker process for the benchmark, with its batched settings: a local queue
 * (jobs fetched and locked 500 at a time), batched completion (completeJobBatchDelay 0),
 * 24 concurrent jobs.
 */
import { Logger, run } from 'graphile-worker';
import { reportProgress } from './progress.js';

const { url, schema } = JSON.parse(process.argv[2] ?? '{}') as { url: string; schema: string };
const progress = reportProgress();
const logger = new Logger(() => (level, message) => {
  if (String(level) === 'error') console.error(`graphile-worker: ${message}`);
});
const runner = await run({
  connectionString: url,
  schema,
  noHandleSignals: true,
  logger,
  preset: {
    worker: {
      concurrentJobs: 24,
      maxPoolSize: 26,
      pollInterval: 2000,
      localQueue: { size: 500 },
      completeJobBatchDelay: 0,
      failJobBatchDelay: 0,
    },
  },
  taskList: {
    noop: () => {
      progress.add(1);
      return Promise.resolve();
    },
  },
});
process.send?.({ type: 'ready' });
process.on('disconnect', () => {
  void runner.stop().then(() => process.exit(0));
});
