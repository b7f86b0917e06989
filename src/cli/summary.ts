/** Tables for finished and stored workflows. */
import Table from 'cli-table3';
import type { WorkflowResult } from '../index.js';
import { duration, printable, since, tableStyle, truncate } from './format.js';

export function summaryTable(result: WorkflowResult): string {
  const table = new Table({ head: ['step', 'status', 'tasks', 'failed', 'retries', 'lost', 'time'], style: tableStyle() });
  for (const step of result.steps) {
    const retries = step.tasks.reduce((sum, task) => sum + Math.max(0, task.failedCount - (task.status === 'failed' ? 1 : 0)), 0);
    // Attempts lost with their node (killed or frozen processes), counted apart from failures.
    const lost = step.tasks.reduce((sum, task) => sum + task.lostCount, 0);
    table.push([
      printable(step.name),
      step.status,
      String(step.progress.total),
      String(step.progress.failed),
      // A step too big for the result (register option resultTasks) carries no tasks to count.
      step.tasksLoaded ? String(retries) : '-',
      step.tasksLoaded ? String(lost) : '-',
      duration(since(step.startedAt, step.finishedAt)),
    ]);
  }
  return table.toString();
}

export function outcomeLine(result: WorkflowResult): string {
  const tasks = result.steps.reduce((sum, step) => sum + step.progress.total, 0);
  const took = duration(since(result.startedAt ?? result.createdAt, result.finishedAt));
  const head = `workflow ${printable(result.name)} (${printable(result.id)}) ${result.status}: ${result.steps.length} steps, ${tasks} tasks in ${took}`;
  return result.error === null ? head : `${head}\n  reason: ${truncate(result.error.message, 300)}`;
}
