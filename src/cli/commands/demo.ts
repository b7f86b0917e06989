/** `deflow demo`: runs the bundled sample workflow on the embedded backend, with progress bars. */
import type { Command } from 'commander';
import DeFlow from '../../index.js';
import { secretsOf } from '../../backends/redact-url.js';
import { registerOptions, withBackendOptions } from '../backend-option.js';
import type { BackendOptions } from '../backend-option.js';
import { demoWorkflow } from '../demo/workflow.js';
import { followWithProgress } from '../progress.js';
import { cliMilliseconds, reportProblems, withStartupTimeout } from '../startup.js';
import { outcomeLine, summaryTable } from '../summary.js';

export function demoCommand(program: Command): void {
  const command = withBackendOptions(
    program
      .command('demo')
      .description('run a sample workflow (fetch -> thumbnails + index -> report) with live progress, then a summary')
      .option('--pages <n>', 'pages to crawl', '300'),
  );
  withStartupTimeout(command).action(async (options: BackendOptions & { pages: string; startupTimeout: string }) => {
    const pages = Number(options.pages);
    if (!Number.isInteger(pages) || pages < 1 || pages > 1_000_000) {
      throw new Error(`--pages must be an integer between 1 and 1000000, got ${options.pages}`);
    }
    const startupTimeout = cliMilliseconds(options.startupTimeout, '--startup-timeout', 0);
    const deflow = DeFlow.register({ ...registerOptions(options), startupTimeout });
    // Each attempt to reach a backend that is down at start, and later background problems.
    reportProblems(deflow, 'demo');
    await deflow.ready();
    const backend = (await deflow.services()).backend;
    process.stderr.write(`deflow demo on ${backend.kind} (${backend.location})\n`);
    try {
      const workflow = demoWorkflow(pages).run();
      const result = await followWithProgress(workflow);
      process.stdout.write(`\n${summaryTable(result)}\n${outcomeLine(result)}\n`);
      const report = result.steps.find((step) => step.name === 'report')?.tasks[0]?.result;
      if (report !== undefined) process.stdout.write(`report: ${JSON.stringify(report)}\n`);
      process.stdout.write(`inspect it again with: ${showCommandFor(workflow.id, options)}\n`);
      if (result.status !== 'succeeded') process.exitCode = 1;
    } finally {
      await DeFlow.unregister();
    }
  });
}

/**
 * The `deflow show` line for this run, with the backend flags it was given so that it works as
 * printed; a backend URL with a password is not printed (redacted, it would not work either).
 */
function showCommandFor(id: string, options: BackendOptions): string {
  const words = ['deflow', 'show', id];
  if (options.backend !== undefined) words.push('-b', secretsOf(options.backend).length > 0 ? '<your backend URL>' : shellWord(options.backend));
  if (options.prefix !== undefined) words.push('--prefix', shellWord(options.prefix));
  if (options.schema !== undefined) words.push('--schema', shellWord(options.schema));
  return words.join(' ');
}

/** Quoted for a POSIX shell when it holds anything but plain characters. */
function shellWord(text: string): string {
  return /^[\w./:@%+=,-]+$/.test(text) ? text : `'${text.replaceAll("'", "'\\''")}'`;
}
