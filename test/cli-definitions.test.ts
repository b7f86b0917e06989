/**
 * `deflow start`, `deflow worker --workflows` and `deflow ls --key` / `show`, run as a user runs
 * them (from the sources, through tsx), on each backend: a definition started by name with its
 * input, id and key; a second start with the id starts nothing; bad input said clearly.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { DATABASE_URL, dropSchemas, freshSchemaName } from './helpers/postgres.js';
import { REDIS_URL, deletePrefix, randomPrefix } from './helpers/redis.js';
import { runCli } from './helpers/cli.js';
import type { CliRun } from './helpers/cli.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const TSX = new URL('../node_modules/tsx/dist/loader.mjs', import.meta.url).href;
const WORKFLOWS = fileURLToPath(new URL('./fixtures/workflows/', import.meta.url));
const STEPS = fileURLToPath(new URL('./fixtures/steps/', import.meta.url));

function deflow(args: string[], cwd: string): Promise<CliRun> {
  return runCli(args, cwd, 90_000);
}

const dirs: string[] = [];
const workers: ChildProcess[] = [];
const schemas: string[] = [];
const prefixes: string[] = [];
function workdir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'deflow-cli-defs-'));
  dirs.push(dir);
  return dir;
}
afterEach(async () => {
  await Promise.all(
    workers.splice(0).map(
      (worker) =>
        new Promise<void>((resolve) => {
          if (worker.exitCode !== null || worker.signalCode !== null) return resolve();
          worker.once('exit', () => resolve());
          worker.kill('SIGKILL');
        }),
    ),
  );
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  for (const prefix of prefixes.splice(0)) await deletePrefix(prefix);
});
afterAll(async () => {
  await dropSchemas(schemas);
});

/** `deflow worker --workflows <fixtures>` on `backend`, once it said what it loaded. */
async function startWorker(backend: string[], cwd: string): Promise<string> {
  const worker = spawn(process.execPath, ['--import', TSX, MAIN, 'worker', '--workflows', WORKFLOWS, ...backend], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  workers.push(worker);
  let stderr = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker did not start: ${stderr}`)), 60_000);
    worker.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (stderr.includes('step modules loaded')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  return stderr;
}

const BACKENDS: { name: string; flags: (cwd: string) => string[] }[] = [
  { name: 'sqlite', flags: (cwd) => ['--backend', `sqlite:${join(cwd, 'deflow.db')}`] },
  {
    name: 'redis',
    flags: () => {
      const prefix = randomPrefix('cli-defs');
      prefixes.push(prefix);
      return ['--backend', REDIS_URL, '--prefix', prefix];
    },
  },
  {
    name: 'postgres',
    flags: () => {
      const schema = freshSchemaName();
      schemas.push(schema);
      return ['--backend', DATABASE_URL, '--schema', schema];
    },
  },
];

describe.each(BACKENDS)('deflow start on $name', ({ flags }) => {
  it('starts a definition by name with its input, id and key; a second start with the id starts nothing; ls --key and show find it', async () => {
    const cwd = workdir();
    const backend = flags(cwd);
    const said = await startWorker(backend, cwd);
    expect(said).toMatch(/0 step modules loaded, workflow definitions: fixture-echoes/);
    const first = await deflow(
      ['start', 'fixture-echoes', '--workflows', WORKFLOWS, '--input', '{"values":[3,4]}', '--id', 'order-9', '--key', 'order-9', '--wait', ...backend],
      cwd,
    );
    expect(first.stderr).toContain('started workflow fixture-echoes');
    expect(first.code).toBe(0);
    expect(first.stdout.split('\n')[0]).toBe('order-9');
    expect(first.stdout).toMatch(/workflow fixture-echoes \(order-9\) succeeded: 1 steps, 2 tasks/);
    const again = await deflow(['start', 'fixture-echoes', '-w', WORKFLOWS, '-i', '{"values":[5]}', '--id', 'order-9', '--key', 'order-9', ...backend], cwd);
    expect(again.code).toBe(0);
    expect(again.stdout).toBe('order-9\n');
    expect(again.stderr).toContain('workflow order-9 exists already (fixture-echoes, succeeded): not started again');
    const other = await deflow(['start', 'fixture-echoes', '-w', WORKFLOWS, '-i', '{"values":[1]}', ...backend], cwd);
    expect(other.code).toBe(0);
    const otherId = other.stdout.trim();
    expect(otherId).toMatch(/^fixture-echoes-/);

    const byKey = await deflow(['ls', '--key', 'order-9', ...backend], cwd);
    expect(byKey.code).toBe(0);
    expect(byKey.stdout).toMatch(/│ id\s+│ name\s+│ key\s+│ status/);
    expect(byKey.stdout).toMatch(/│ order-9\s+│ fixture-echoes\s+│ order-9\s+│ succeeded/);
    expect(byKey.stdout).not.toContain(otherId);
    const none = await deflow(['ls', '--key', 'order-90', ...backend], cwd);
    expect(none.stdout).toMatch(/^no workflows in /);
    const show = await deflow(['show', 'order-9', ...backend], cwd);
    expect(show.stdout).toMatch(/^fixture-echoes \(order-9\)\n {2}key {6}order-9\n {2}status {3}succeeded/);
    // A conflicting start says why and stores nothing.
    const conflict = await deflow(['start', 'fixture-echoes', '-w', WORKFLOWS, '-i', '{"values":[1]}', '--id', 'order-9', '--key', 'order-10', ...backend], cwd);
    expect(conflict.code).toBe(1);
    expect(conflict.stderr).toMatch(/workflow id "order-9" is taken by workflow "fixture-echoes" with key "order-9", not key "order-10".*\[ERR_WORKFLOW_CONFLICT\]/);
  }, 180_000);
});

describe('deflow start and worker --workflows refuse what they cannot use', () => {
  it('names the known definitions, bad JSON input, a module that is not a definition, and a worker with nothing to load', async () => {
    const cwd = workdir();
    const backend = ['--backend', `sqlite:${join(cwd, 'deflow.db')}`];
    const unknown = await deflow(['start', 'fixture-nope', '--workflows', WORKFLOWS, ...backend], cwd);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no workflow definition named "fixture-nope" is loaded in this process; known definitions: "fixture-echoes"/);
    const nothingLoaded = await deflow(['start', 'fixture-echoes', ...backend], cwd);
    expect(nothingLoaded.stderr).toMatch(/none is: import the modules that call defineWorkflow\(\) \(deflow: --workflows <dir>\)/);
    const badInput = await deflow(['start', 'fixture-echoes', '-w', WORKFLOWS, '--input', '{values', ...backend], cwd);
    expect(badInput.code).toBe(1);
    expect(badInput.stderr).toMatch(/--input must be JSON \(e.g. --input '\{"orderId": "42"\}'\): /);
    const badId = await deflow(['start', 'fixture-echoes', '-w', WORKFLOWS, '--id', 'x'.repeat(300), ...backend], cwd);
    expect(badId.stderr).toMatch(/options.id must be at most 256 characters long, got 300 characters \[ERR_VALIDATION\]/);
    const notDefinitions = await deflow(['start', 'fixture-echoes', '-w', STEPS, ...backend], cwd);
    expect(notDefinitions.code).toBe(1);
    expect(notDefinitions.stderr).toMatch(/workflow module .*adds-after.ts default-exports a StepHandler, not a workflow definition; write "export default defineWorkflow\(/);
    const empty = workdir();
    writeFileSync(join(empty, 'README.md'), 'nothing here');
    const noModules = await deflow(['start', 'fixture-echoes', '-w', empty, ...backend], cwd);
    expect(noModules.stderr).toMatch(/no workflow modules \(.ts, .mts, .js, .mjs\) found in /);
    const missing = await deflow(['start', 'fixture-echoes', '-w', join(cwd, 'missing'), ...backend], cwd);
    expect(missing.stderr).toMatch(/cannot read --workflows directory/);
    const bare = await deflow(['worker', ...backend], cwd);
    expect(bare.code).toBe(1);
    expect(bare.stderr).toMatch(/give the directories of your step modules \(--steps <dir>\), of your workflow definitions \(--workflows <dir>\), or both/);
  }, 120_000);
});
