/**
 * Follows a workflow until it ends, drawing one progress bar per step as steps start.
 * Progress is read from the backend, so it shows work done by any process.
 */
import cliProgress from 'cli-progress';
import type { WorkFlow, WorkflowResult } from '../index.js';
import { WorkflowFailedError } from '../index.js';
import { printable } from './format.js';

const REFRESH_MS = 150;

export async function followWithProgress(workflow: WorkFlow, stream: NodeJS.WriteStream = process.stderr): Promise<WorkflowResult> {
  const bars = new cliProgress.MultiBar(
    {
      stream,
      format: ' {name} |{bar}| {value}/{total} tasks {failedText} {status}',
      barCompleteChar: '█',
      barIncompleteChar: '░',
      barsize: 30,
      hideCursor: true,
      clearOnComplete: false,
      stopOnComplete: false,
      noTTYOutput: true,
      notTTYSchedule: 2000,
      emptyOnZero: true,
    },
    cliProgress.Presets.shades_classic,
  );
  const byStep = new Map<string, cliProgress.SingleBar>();
  let nameWidth = 8;
  const refresh = async (): Promise<void> => {
    for (const step of await workflow.getSteps()) {
      if (step.status === 'waiting') continue;
      const progress = await step.getProgress();
      const name = printable(step.name);
      nameWidth = Math.max(nameWidth, name.length);
      const payload = {
        name: name.padEnd(nameWidth),
        status: step.status === 'running' ? '' : step.status,
        failedText: progress.failed > 0 ? `(${progress.failed} failed)` : '',
      };
      let bar = byStep.get(step.id);
      if (bar === undefined) {
        bar = bars.create(Math.max(progress.total, 0), progress.done, payload);
        byStep.set(step.id, bar);
      }
      bar.setTotal(progress.total);
      bar.update(progress.done, payload);
    }
  };
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      await refresh().catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, REFRESH_MS));
    }
  })();
  try {
    return await workflow.done();
  } catch (error) {
    if (error instanceof WorkflowFailedError) return error.result;
    throw error;
  } finally {
    stopped = true;
    await loop;
    await refresh().catch(() => undefined);
    bars.stop();
  }
}
