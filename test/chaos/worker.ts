/**
 * A chaos worker: one deflow node running the chaos steps until it is killed.
 *   node --import tsx test/chaos/worker.ts '<json register options>'
 * Environment: CHAOS_NODE (its name), CHAOS_LOG_DIR, and DEFLOW_TEST_FAULTS when the run arms a
 * fault point in it. Says { type: 'ready' } over IPC once it runs; exits 3 when the backend does
 * not answer at start (the run starts another one later).
 */
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import DeFlow from '../../src/index.js';
import './steps.js';

const options = JSON.parse(process.argv[2] ?? '{}') as Record<string, unknown>;
const problemsFile = join(process.env.CHAOS_LOG_DIR ?? '.', `${process.env.CHAOS_NODE ?? 'worker'}.problems`);
let problems = 0;

const deflow = DeFlow.register(options);
// Background problems are expected while the backend restarts: kept for the report, not printed.
deflow.on('error', (error, during) => {
  if (++problems <= 200) appendFileSync(problemsFile, `${new Date().toISOString()} ${String(during)}: ${error.message}\n`);
});
try {
  await deflow.ready();
} catch (error) {
  process.stderr.write(`chaos worker ${process.env.CHAOS_NODE}: backend not ready: ${(error as Error).message}\n`);
  process.exit(3);
}
process.send?.({ type: 'ready', pid: process.pid });

const stop = (): void => {
  void DeFlow.unregister().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('disconnect', stop);
