/**
 * The examples keep working: they import 'deflow' by name (the package's own build, as a user
 * would), so this runs after `npm run build` (npm test builds first).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'dist/cli/main.js');

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const cwd = mkdtempSync(join(tmpdir(), 'deflow-example-'));
  dirs.push(cwd);
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd, timeout: 60_000, env: { ...process.env, NO_COLOR: '1', ...env } }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr });
    });
  });
}

describe('examples', () => {
  it('quickstart (the README example) prints the report', async () => {
    const result = await run([join(ROOT, 'examples/quickstart/main.js')]);
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain('EUR=1.3 GBP=1.3 JPY=1.3');
    expect(result.stdout).toContain('started 1:1');
  });

  it('dag succeeds, and with a declined card runs only the failure branch', async () => {
    const ok = await run([CLI, 'run', join(ROOT, 'examples/dag/workflow.ts')]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/summary\s+│ succeeded/);
    expect(ok.stdout).toMatch(/refund-alert\s+│ skipped/);
    const declined = await run([CLI, 'run', join(ROOT, 'examples/dag/workflow.ts')], { FAIL: '1' });
    expect(declined.code).toBe(0); // the failure is handled by refund-alert
    expect(declined.stdout).toMatch(/charge\s+│ failed/);
    expect(declined.stdout).toMatch(/refund-alert\s+│ succeeded/);
    expect(declined.stdout).toMatch(/summary\s+│ skipped/);
  });

  it('orders starts a workflow definition by name, once under one id, and finds it by key', async () => {
    const result = await run([join(ROOT, 'examples/orders/main.js')]);
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain('definitions: fulfil-order (reserves every item of an order, then ships it)');
    expect(result.stdout).toContain('created: true, then false; same workflow: true');
    expect(result.stdout).toContain('order A-17 ships book, pen');
    expect(result.stdout).toContain('workflows of A-17: fulfil-A-17 succeeded');
  });

  it('schedules starts one workflow per tick of a cron', async () => {
    const result = await run([join(ROOT, 'examples/schedules/main.js')]);
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/scheduled every-second-report: \* \* \* \* \* \* -> report, next at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z/);
    expect(result.stdout).toMatch(/\d+ ticks, one workflow each, a second apart: true/);
    expect(result.stdout).toContain('summary for last second');
  });

  it('throttle keeps each customer under its own rate limit', async () => {
    const result = await run([join(ROOT, 'examples/throttle/main.js')]);
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain('acme: 7 calls, at most 3 in any 1000 ms');
    expect(result.stdout).toContain('globex: 4 calls, at most 3 in any 1000 ms');
  });

  it('queues runs the payment step in the billing service, which owns its code', async () => {
    const result = await run([join(ROOT, 'examples/queues/main.js')]);
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain('charge ran in the billing service');
    expect(result.stdout).toContain('ship ran in the order service');
  });

  it('invoices adds a fallback step from afterAll for the bounced invoice', async () => {
    const result = await run([CLI, 'run', join(ROOT, 'examples/invoices/workflow.ts')]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/send-by-post\s+│ succeeded\s+│ 1 /);
  });

  it('order-events closes the order once paid and delivered, and escalates when an event never comes', async () => {
    const ok = await run([CLI, 'run', join(ROOT, 'examples/order-events/workflow.ts')]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/close-order\s+│ succeeded/);
    expect(ok.stdout).toMatch(/escalate\s+│ skipped/);
    const lost = await run([CLI, 'run', join(ROOT, 'examples/order-events/workflow.ts')], { LOST: '1' });
    expect(lost.code).toBe(0); // the timeout is handled by escalate
    expect(lost.stdout).toMatch(/close-order\s+│ failed/);
    expect(lost.stdout).toMatch(/escalate\s+│ succeeded/);
  });
});
