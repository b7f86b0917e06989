/**
 * A pg-boss process for the benchmark, batched: each work loop fetches up to 1,000 jobs and
 * completes them in one call; 4 loops per process; 0.5 s polling (pg-boss's minimum).
 */
import PgBoss from 'pg-boss';
import { reportProgress } from './progress.js';

const { url, schema } = JSON.parse(process.argv[2] ?? '{}') as { url: string; schema: string };
const progress = reportProgress();
const boss = new PgBoss({ connectionString: url, schema, supervise: false, schedule: false, migrate: false, max: 6 });
boss.on('error', (error) => console.error('pg-boss:', error.message));
await boss.start();
for (let i = 0; i < 4; i++) {
  await boss.work('bench', { batchSize: 1000, pollingIntervalSeconds: 0.5 }, (jobs) => {
    progress.add(jobs.length);
    return Promise.resolve();
  });
}
process.send?.({ type: 'ready' });
process.on('disconnect', () => {
  void boss.stop({ graceful: false, wait: true }).then(() => process.exit(0));
});
