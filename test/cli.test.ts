/** The deflow command, run as a user runs it (from the sources, through tsx). */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import DeFlow, { StepHandler, WorkFlow } from '../src/index.js';
import { expireSqliteNode } from './helpers/backends.js';
import { REDIS_URL, deletePrefix, randomPrefix } from './helpers/redis.js';
import { runCli } from './helpers/cli.js';
import type { CliRun } from './helpers/cli.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));
// The commands run in temporary directories, where a bare 'tsx' would not resolve.
const TSX = new URL('../node_modules/tsx/dist/loader.mjs', import.meta.url).href;
const SRC_INDEX = fileURLToPath(new URL('../src/index.js', import.meta.url));

const cliEcho = new StepHandler<unknown, number, number>({ name: 'cli-echo', handler: (task) => task.data });

const dirs: string[] = [];
function workdir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'deflow-cli-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function deflow(args: string[], cwd: string): Promise<CliRun> {
  return runCli(args, cwd);
}

interface StartedWorker {
  process: ChildProcess;
  stderr(): string;
  exit: Promise<number | null>;
}

/** `deflow worker --steps <dir> [...more]`, once it said it loaded its step modules. */
async function startWorker(stepsDir: string, backend: string, cwd: string, more: string[] = []): Promise<StartedWorker> {
  const worker = spawn(process.execPath, ['--import', TSX, MAIN, 'worker', '--steps', stepsDir, '--backend', backend, ...more], {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  worker.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exit = new Promise<number | null>((resolve) => worker.once('exit', resolve));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker did not start: ${stderr}`)), 30_000);
    worker.stderr.on('data', () => {
      if (stderr.includes('step modules loaded')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  return { process: worker, stderr: () => stderr, exit };
}

describe('deflow CLI', () => {
  it('demo runs the sample workflow on the embedded backend and prints a summary', async () => {
    const cwd = workdir();
    const run = await deflow(['demo', '--pages', '40'], cwd);
    expect(run.stderr).toContain('deflow demo on sqlite');
    expect(run.code).toBe(0);
    for (const step of ['fetch', 'thumbnails', 'index', 'report']) expect(run.stdout).toMatch(new RegExp(`│ ${step}\\s+│ succeeded`));
    expect(run.stdout).toMatch(/workflow demo-crawl \(demo-crawl-\S+\) succeeded: 4 steps, 101 tasks/);
    // The state stays: ls and show read it back.
    const id = /deflow show (\S+)/.exec(run.stdout)?.[1] ?? '';
    const ls = await deflow(['ls'], cwd);
    expect(ls.stdout).toContain(id);
    const show = await deflow(['show', id], cwd);
    expect(show.code).toBe(0);
    expect(show.stdout).toMatch(/status\s+succeeded/);
    expect(show.stdout).toContain('40/40');
  });

  it("demo's hint to inspect the workflow again names the backend flags it was given, never a password", async () => {
    const cwd = workdir();
    const file = join(cwd, 'hint.db');
    const sqlite = await deflow(['demo', '--pages', '5', '-b', `sqlite:${file}`], cwd);
    expect(sqlite.code).toBe(0);
    const hint = /inspect it again with: deflow (show \S+ -b \S+)$/m.exec(sqlite.stdout)?.[1] ?? '';
    expect(hint).toMatch(new RegExp(`^show demo-crawl-\\S+ -b sqlite:${file.replaceAll('/', '\\/')}$`));
    // As printed, it works (from another directory, where the default database is not).
    const show = await deflow(hint.split(' '), workdir());
    expect(show.code).toBe(0);
    expect(show.stdout).toMatch(/status\s+succeeded/);
    const withPassword = new URL(REDIS_URL);
    withPassword.password = 's3cret';
    const prefix = randomPrefix('cli-hint');
    try {
      const redis = await deflow(['demo', '--pages', '5', '-b', withPassword.href, '--prefix', prefix], cwd);
      expect(redis.code).toBe(0);
      expect(redis.stdout).toMatch(new RegExp(`inspect it again with: deflow show demo-crawl-\\S+ -b <your backend URL> --prefix ${prefix}$`, 'm'));
      expect(redis.stdout + redis.stderr).not.toContain('s3cret');
    } finally {
      await deletePrefix(prefix);
    }
  });

  it('show lists a failed task with its failed and lost attempts apart', async () => {
    const cwd = workdir();
    const file = join(cwd, 'lost.db');
    DeFlow.register({ backend: `sqlite:${file}`, worker: false, checkProcessQueueInterval: 0 });
    const workflow = WorkFlow.create('lost').addStep({ name: 'crashy', step: cliEcho, tasks: [1], options: { maxNodeLosses: 1 } }).run();
    const id = workflow.id;
    try {
      await workflow.started();
      const { backend } = await DeFlow.getInstance().services();
      await backend.registerNode({ id: 'doomed', host: 'test', pid: 1, handlers: [], leaseMs: 60_000 });
      await backend.claim({ nodeId: 'doomed', workflowId: id, stepId: '1', limit: 1 });
      expireSqliteNode(file, 'doomed');
      await backend.recoverExpired(10);
    } finally {
      await DeFlow.unregister();
    }
    const show = await deflow(['show', id, '--backend', `sqlite:${file}`], cwd);
    expect(show.code).toBe(0);
    expect(show.stdout).toMatch(/status\s+failed/);
    expect(show.stdout).toContain('failed tasks of crashy:');
    expect(show.stdout).toMatch(/#1 1 -> NodeLostError: task 1 of step "crashy" was lost with its node 1 time .*\(failed 0x, lost with its node 1x\)/);
  });

  it('show says until when a step waits for its timer', async () => {
    const cwd = workdir();
    const file = join(cwd, 'timer.db');
    DeFlow.register({ backend: `sqlite:${file}`, worker: false, checkProcessQueueInterval: 0 });
    const startAt = Date.UTC(2099, 0, 2, 3, 4, 5, 678);
    const workflow = WorkFlow.create('timer').addStep({ name: 'someday', step: cliEcho, tasks: [1], startAt: new Date(startAt) }).run();
    try {
      await workflow.started();
    } finally {
      await DeFlow.unregister();
    }
    const show = await deflow(['show', workflow.id, '--backend', `sqlite:${file}`], cwd);
    expect(show.code).toBe(0);
    expect(show.stdout).toContain('waiting until 2099-01-02T03:04:05.678Z');
  });

  it('run follows a TypeScript workflow module to the end, exit 0', async () => {
    const run = await deflow(['run', join(FIXTURES, 'cli/workflow.ts')], workdir());
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/workflow cli-run \(\S+\) succeeded: 1 steps, 3 tasks/);
  });

  it('run exits 1 with the reason when the workflow fails', async () => {
    const run = await deflow(['run', join(FIXTURES, 'cli/failing.ts')], workdir());
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('the printer is on fire');
    expect(run.stdout).toMatch(/cli-failing \(\S+\) failed/);
  });

  it('run tells each attempt to reach a backend that is down as a CLI line, and gives up after --startup-timeout', async () => {
    const run = await deflow(['run', '--backend', 'redis://:hunter2@127.0.0.1:1', '--startup-timeout', '1500', join(FIXTURES, 'cli/workflow.ts')], workdir());
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^deflow run: connect: .*Trying again in \d/m);
    expect(run.stderr).not.toMatch(/\(node:\d+\)|DeflowWarning|DEFLOW_BACKEND_UNAVAILABLE/);
    expect(run.stderr).not.toContain('hunter2');
    // The flag the user typed, not the register option it sets.
    expect(run.stderr).toMatch(/as --startup-timeout says/);
    expect(run.stderr).toMatch(/^deflow: gave up waiting .*--startup-timeout is 1500 ms/m);
    expect(run.stderr).not.toMatch(/DeFlow.register options/);
    const bad = await deflow(['run', '--startup-timeout', 'soon', join(FIXTURES, 'cli/workflow.ts')], workdir());
    expect(bad.stderr).toMatch(/--startup-timeout must be a whole number of milliseconds >= 0, got "soon"/);
  });

  it('demo gives up after --startup-timeout too, telling each attempt', async () => {
    const demo = await deflow(['demo', '--pages', '5', '--backend', 'redis://:hunter2@127.0.0.1:1', '--startup-timeout', '1500'], workdir());
    expect(demo.code).toBe(1);
    expect(demo.stderr).toMatch(/^deflow demo: connect: .*Trying again in \d/m);
    expect(demo.stderr).toMatch(/^deflow: gave up waiting .*--startup-timeout is 1500 ms/m);
    expect(demo.stderr).not.toContain('hunter2');
  });

  it('says a --prefix the backend ignores as a CLI line, not a raw process warning', async () => {
    const cwd = workdir();
    const run = await deflow(['run', '--prefix', 'app1', '--backend', `sqlite:${join(cwd, 'db.sqlite')}`, join(FIXTURES, 'cli/workflow.ts')], cwd);
    expect(run.code).toBe(0);
    expect(run.stderr).toContain('deflow: --prefix only applies to Redis; the sqlite backend ignores it');
    expect(run.stderr).not.toMatch(/\(node:\d+\)|DeflowWarning|DEFLOW_IGNORED_OPTION/);
  });

  it('worker runs the steps of a directory for `run --no-worker`, and drains on SIGTERM', async () => {
    const cwd = workdir();
    const backend = `sqlite:${join(cwd, 'shared.db')}`;
    const worker = await startWorker(join(FIXTURES, 'steps'), backend, cwd);
    const run = await deflow(['run', '--no-worker', '--backend', backend, join(FIXTURES, 'cli/workflow.ts')], cwd);
    expect(run.code).toBe(0);
    worker.process.kill('SIGTERM');
    expect(await worker.exit).toBe(0);
    expect(worker.stderr()).toContain('SIGTERM: finishing running tasks');
  });

  it("worker imports step modules only from its --steps and --allow directories, not its working directory", async () => {
    const cwd = workdir();
    const backend = `sqlite:${join(cwd, 'shared.db')}`;
    const steps = join(FIXTURES, 'steps');
    // Started from a directory that holds the workflow module: being under it allows nothing.
    const worker = await startWorker(steps, backend, FIXTURES);
    try {
      // Its handler lives in the workflow module, under none of the worker's directories.
      const run = await deflow(['run', '--no-worker', '--backend', backend, join(FIXTURES, 'cli/failing.ts')], cwd);
      expect(run.code).toBe(1);
      expect(run.stdout).toContain('refuses to import the step module of StepHandler "cli-broken"');
      expect(run.stdout).not.toContain('the printer is on fire');
      // The summary cuts the reason; the worker says it whole, once.
      for (let waited = 0; !worker.stderr().includes('cli-broken') && waited < 10_000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50));
      expect(worker.stderr()).toContain(`is outside the step directories this node may import from (${steps}); add its directory`);
    } finally {
      worker.process.kill('SIGTERM');
      await worker.exit;
    }
    // --steps repeated loads both directories; --allow lets the workflow module's handler run without importing it at start.
    const allowed = await startWorker(steps, backend, cwd, ['--steps', join(FIXTURES, 'steps-with-helper'), '--allow', join(FIXTURES, 'cli')]);
    try {
      // Every fixture step module, and the one handler of steps-with-helper (its helper is no step).
      const loaded = readdirSync(steps).filter((file) => file.endsWith('.ts')).length + 1;
      expect(allowed.stderr()).toContain(`, ${loaded} step modules loaded`);
      const run = await deflow(['run', '--no-worker', '--backend', backend, join(FIXTURES, 'cli/failing.ts')], cwd);
      expect(run.code).toBe(1);
      expect(run.stdout).toContain('the printer is on fire');
    } finally {
      allowed.process.kill('SIGTERM');
      await allowed.exit;
    }
    const badAllow = await deflow(['worker', '--steps', steps, '--allow', join(cwd, 'nope')], cwd);
    expect(badAllow.code).toBe(1);
    expect(badAllow.stderr).toMatch(/--allow .*nope: .*nope is not an existing directory/);
  });

  it('worker names a step module that is still importing after 5 s, and one whose top-level await can never settle', async () => {
    const cwd = workdir();
    const backend = `sqlite:${join(cwd, 'shared.db')}`;
    const hanging = spawn(process.execPath, ['--import', TSX, MAIN, 'worker', '--steps', join(FIXTURES, 'steps-hanging'), '--backend', backend], {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    hanging.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise((resolve) => hanging.once('exit', resolve));
    const stuck = deflow(['worker', '--steps', join(FIXTURES, 'steps-stuck'), '--backend', backend], cwd);
    try {
      for (let waited = 0; !stderr.includes('still importing') && waited < 30_000; waited += 100) await new Promise((resolve) => setTimeout(resolve, 100));
      expect(stderr).toContain(
        `deflow worker: still importing ${join(FIXTURES, 'steps-hanging', 'waits-on-server.ts')} after 5 s (a module that waits at top level? point --steps at step modules only)`,
      );
      // It keeps waiting: the module may still finish.
      expect(hanging.exitCode).toBeNull();
    } finally {
      hanging.kill('SIGKILL');
      await exited;
    }
    const result = await stuck;
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`${join(FIXTURES, 'steps-stuck', 'waits-on-nothing.ts')} never finished loading`);
  });

  it('worker does not count a module that exports no StepHandler (a helper), and says so', async () => {
    const cwd = workdir();
    const worker = await startWorker(join(FIXTURES, 'steps-with-helper'), `sqlite:${join(cwd, 'shared.db')}`, cwd);
    try {
      expect(worker.stderr()).toMatch(/steps-with-helper\/format.ts exports no StepHandler; it is not counted/);
      expect(worker.stderr()).toMatch(/, 1 step modules loaded/);
    } finally {
      worker.process.kill('SIGTERM');
      await worker.exit;
    }
  });

  it('worker imports nothing outside its directories through a symlink at start, skips a symlink loop, and imports a file reached twice once', async () => {
    const cwd = realpathSync(workdir());
    const steps = join(cwd, 'steps');
    const outside = join(cwd, 'outside');
    mkdirSync(join(steps, 'sub'), { recursive: true });
    mkdirSync(outside);
    writeFileSync(join(steps, 'inside.ts'), `import { StepHandler } from ${JSON.stringify(SRC_INDEX)};\nexport default new StepHandler({ name: 'scan-inside', handler: () => 1 });\n`);
    // Outside code leaves a marker when it runs.
    for (const name of ['side.js', 'link.js']) {
      writeFileSync(join(outside, name), `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(join(cwd, `ran-${name}`))}, 'ran');\n`);
    }
    symlinkSync('../outside', join(steps, 'linkdir'));
    symlinkSync('../../outside/link.js', join(steps, 'sub', 'link.js'));
    symlinkSync('.', join(steps, 'loop'));
    symlinkSync('inside.ts', join(steps, 'twice.ts'));
    const worker = await startWorker(steps, `sqlite:${join(cwd, 'shared.db')}`, cwd);
    try {
      const stderr = worker.stderr();
      expect(stderr).toContain(`deflow worker: skipping ${join(steps, 'linkdir')} (a symlink to ${outside}): the module`);
      expect(stderr).toContain(`deflow worker: skipping ${join(steps, 'sub', 'link.js')} (a symlink to ${join(outside, 'link.js')}): the module`);
      expect(stderr).toContain('is outside the step directories this node may import from');
      expect(stderr.split(join(steps, 'linkdir')).length).toBe(2); // said once
      expect(stderr).toContain(`deflow worker: skipping ${join(steps, 'loop')}: a symlink loop (it leads back to ${steps}, which contains it)`);
      expect(stderr).toMatch(/, 1 step modules loaded/);
      expect(existsSync(join(cwd, 'ran-side.js'))).toBe(false);
      expect(existsSync(join(cwd, 'ran-link.js'))).toBe(false);
    } finally {
      worker.process.kill('SIGTERM');
      await worker.exit;
    }
    // A link to itself: said, not a bare ELOOP.
    rmSync(join(steps, 'loop'));
    symlinkSync('self.js', join(steps, 'self.js'));
    const selfLoop = await startWorker(steps, `sqlite:${join(cwd, 'shared.db')}`, cwd);
    try {
      expect(selfLoop.stderr()).toContain(`deflow worker: skipping ${join(steps, 'self.js')}: a symlink loop`);
      expect(selfLoop.stderr()).toMatch(/, 1 step modules loaded/);
    } finally {
      selfLoop.process.kill('SIGTERM');
      await selfLoop.exit;
    }
  });

  it('says what is wrong with bad arguments', async () => {
    const cwd = workdir();
    const missing = await deflow(['worker', '--steps', join(cwd, 'nope')], cwd);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/cannot read --steps directory/);
    const notWorkflow = await deflow(['run', join(FIXTURES, 'not-a-step.ts')], cwd);
    expect(notWorkflow.code).toBe(1);
    expect(notWorkflow.stderr).toMatch(/must default-export a WorkFlow/);
    const badBackend = await deflow(['ls', '--backend', 'mongodb://x'], cwd);
    expect(badBackend.stderr).toMatch(/unsupported backend "mongodb:\/\/x"/);
    const unknown = await deflow(['frobnicate'], cwd);
    expect(unknown.code).toBe(1);
    const broken = await deflow(['worker', '--steps', join(FIXTURES, 'steps-broken')], cwd);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(/step module .*throws-at-import.ts failed to load: config missing/);
    // Counted as loaded before: a worker that runs none of the steps it was started for.
    const notAStep = await deflow(['worker', '--steps', join(FIXTURES, 'steps-not-a-step')], cwd);
    expect(notAStep.code).toBe(1);
    expect(notAStep.stderr).toMatch(/step module .*steps-not-a-step\/answer.ts default-exports number 42, not a StepHandler/);
    const badLease = await deflow(['worker', '--steps', join(FIXTURES, 'steps'), '--lease', '5'], cwd);
    expect(badLease.stderr).toMatch(/--lease must be a whole number of milliseconds >= 100, got "5"/);
    // The API's checks name the flag the user typed, not the register option it sets.
    // Refused before the backend is reached: a huge limit failed there with a raw driver error.
    for (const limit of ['99999999999999999999', '100001', '0', 'ten']) {
      const badLimit = await deflow(['ls', '-n', limit, '--backend', `sqlite:${join(cwd, 'missing.db')}`], cwd);
      expect(badLimit.code).toBe(1);
      expect(badLimit.stderr).toContain(`-n/--limit must be an integer between 1 and 100000, got "${limit}"`);
    }
    const badInterval = await deflow(['worker', '--steps', join(FIXTURES, 'steps'), '--check-interval', '99999999999'], cwd);
    expect(badInterval.code).toBe(1);
    expect(badInterval.stderr).toMatch(/deflow: --check-interval must be at most 2147483647 ms/);
    expect(badInterval.stderr).not.toMatch(/checkProcessQueueInterval|DeFlow.register/);
    const noModule = await deflow(['run', 'missing.ts'], cwd);
    expect(noModule.stderr).toMatch(/no workflow module at .*missing.ts/);
    // Reading commands do not create a database where there is none (a typo in the path).
    const typo = await deflow(['ls', '--backend', `sqlite:${join(cwd, 'typo', 'deflow.db')}`], cwd);
    expect(typo.code).toBe(1);
    expect(typo.stderr).toMatch(/no deflow database at .*typo\/deflow.db/);
    expect(existsSync(join(cwd, 'typo'))).toBe(false);
  });
});
