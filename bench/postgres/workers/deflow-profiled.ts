/**
 * A deflow node process that also times every backend call and prints a summary when it
 * stops: where a run spends its round trips. Used by run.ts with --profile.
 */
import DeFlow from '../../../src/index.js';
import type { Backend } from '../../../src/backends/backend.js';
import '../steps.js';

const { url, schema } = JSON.parse(process.argv[2] ?? '{}') as { url: string; schema: string };
DeFlow.register({ backend: url, schema });
const { backend } = await DeFlow.getInstance().services();

interface Stat {
  calls: number;
  ms: number;
  outcomes: number;
  claimed: number;
}
const stats = new Map<string, Stat>();
const timed = ['claim', 'complete', 'runnableSteps', 'heartbeat', 'release', 'recoverExpired', 'sweep'] as const;
for (const name of timed) {
  const original = backend[name].bind(backend) as (...args: unknown[]) => Promise<unknown>;
  (backend as unknown as Record<string, unknown>)[name] = async (...args: unknown[]): Promise<unknown> => {
    const started = performance.now();
    const result = await original(...args);
    const stat = stats.get(name) ?? { calls: 0, ms: 0, outcomes: 0, claimed: 0 };
    stat.calls++;
    stat.ms += performance.now() - started;
    if (name === 'complete') {
      const request = args[0] as Parameters<Backend['complete']>[0];
      stat.outcomes += request.outcomes.length;
      stat.claimed += (result as Awaited<ReturnType<Backend['complete']>>).claimed?.jobs.length ?? 0;
    }
    if (name === 'claim') stat.claimed += (result as Awaited<ReturnType<Backend['claim']>>).jobs.length;
    stats.set(name, stat);
    return result;
  };
}
const cpuAtStart = process.cpuUsage();
process.send?.({ type: 'ready' });
process.on('disconnect', () => {
  const cpu = process.cpuUsage(cpuAtStart);
  console.log(`[${process.pid}] cpu ${Math.round(cpu.user / 1000)} ms user, ${Math.round(cpu.system / 1000)} ms system`);
  for (const [name, stat] of stats) {
    console.log(
      `[${process.pid}] ${name.padEnd(14)} ${String(stat.calls).padStart(5)} calls ${(stat.ms / stat.calls).toFixed(2).padStart(7)} ms/call` +
        (stat.outcomes > 0 ? `, ${stat.outcomes} outcomes` : '') +
        (stat.claimed > 0 ? `, ${stat.claimed} claimed` : ''),
    );
  }
  void DeFlow.unregister().then(() => process.exit(0));
});
