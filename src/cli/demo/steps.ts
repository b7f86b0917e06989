/**
 * The sample workflow of `deflow demo`: a site crawl.
 *   fetch (pages, some flaky and retried) -> thumbnails + index (in parallel) -> report (join)
 * Work is simulated with short sleeps so the demo finishes in a few seconds.
 */
import { StepHandler } from '../../index.js';

export interface Page {
  url: string;
  bytes: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
/** Deterministic "random" in [0, 1) from a number, so every run looks alike. */
const noise = (n: number): number => {
  const x = Math.sin(n * 12.9898) * 43758.5453;
  return x - Math.floor(x);
};

export const fetchPages = new StepHandler<{ pages: number }, number, Page>({
  name: 'demo-fetch',
  options: { taskConcurrency: 16, taskMaxFailCount: 3, taskFailRetryDelay: 100 },
  async beforeAll(step) {
    await step.addTasks(Array.from({ length: step.data.pages }, (_, i) => i + 1));
  },
  async handler(task) {
    await sleep(20 + noise(task.data) * 60);
    // About one page in twelve times out the first time it is fetched.
    if (task.failedCount === 0 && noise(task.data * 7) < 0.08) throw new Error(`GET /page/${task.data}: 503 Service Unavailable`);
    return { url: `https://example.com/page/${task.data}`, bytes: Math.round(2_000 + noise(task.data * 3) * 60_000) };
  },
});

export const makeThumbnails = new StepHandler<unknown, Page, number>({
  name: 'demo-thumbnails',
  options: { taskConcurrency: 12 },
  async beforeAll(step) {
    const fetched = await (await step.getWorkflow()).getStep('fetch');
    const pages = (await fetched?.getResults()) ?? [];
    await step.addTasks(pages.flatMap((task) => (task.result === undefined ? [] : [task.result as Page])));
  },
  async handler(task) {
    await sleep(10 + noise(task.data.bytes) * 30);
    return Math.round(task.data.bytes / 20);
  },
});

export const indexPages = new StepHandler<unknown, Page, number>({
  name: 'demo-index',
  options: { taskConcurrency: 8 },
  async beforeAll(step) {
    const fetched = await (await step.getWorkflow()).getStep('fetch');
    const pages = (await fetched?.getResults()) ?? [];
    await step.addTasks(pages.flatMap((task, i) => (i % 2 === 0 && task.result !== undefined ? [task.result as Page] : [])));
  },
  async handler(task) {
    await sleep(20 + noise(task.data.bytes * 5) * 40);
    return Math.round(task.data.bytes / 6);
  },
});

export const writeReport = new StepHandler<unknown, string, { thumbnails: number; indexed: number; thumbnailBytes: number }>({
  name: 'demo-report',
  async handler(_task, step) {
    const workflow = await step.getWorkflow();
    const total = async (name: string): Promise<{ count: number; sum: number }> => {
      const results = (await (await workflow.getStep(name))?.getResults()) ?? [];
      return { count: results.length, sum: results.reduce((sum, task) => sum + Number(task.result ?? 0), 0) };
    };
    const [thumbnails, indexed] = await Promise.all([total('thumbnails'), total('index')]);
    return { thumbnails: thumbnails.count, indexed: indexed.count, thumbnailBytes: thumbnails.sum };
  },
});
