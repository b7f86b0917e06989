/**
 * The chaos suite: `npm run chaos -- --backend sqlite|redis|postgres --minutes N [--seed S]`.
 *
 * Runs a creator and several worker processes against a store the run owns, kills a random
 * worker with SIGKILL every 1-3 s (its replacement sometimes armed to die or freeze at a named
 * fault point), restarts the store every so often (Redis and PostgreSQL), then stops creating,
 * lets the workers drain, and checks the store, the handlers' side-effect logs and the events the
 * creator heard (verify.ts). Exits 1 with the violations listed; every random choice comes from
 * the printed seed, so `--seed` replays the same decisions.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import DeFlow, { WorkFlow } from '../../src/index.js';
import { startBackend } from './backends.js';
import type { ChaosBackend, ChaosBackendName } from './backends.js';
import type { CreatorRecord } from './creator-records.js';
import { forkChild, isRunning, killHard } from './processes.js';
import type { Child } from './processes.js';
import { Random } from './random.js';
import { readEffects } from './side-effects.js';
import { verify } from './verify.js';
import type { StoredWorkflow } from './verify.js';

const { values: args } = parseArgs({
  options: {
    backend: { type: 'string' },
    minutes: { type: 'string', default: '2' },
    seed: { type: 'string' },
    workers: { type: 'string', default: '3' },
    'drain-seconds': { type: 'string', default: '240' },
    keep: { type: 'boolean', default: false },
    'allow-missed-events': { type: 'boolean', default: false },
  },
});

const BACKENDS: ChaosBackendName[] = ['sqlite', 'redis', 'postgres'];
function fail(message: string): never {
  process.stderr.write(`chaos: ${message}\nusage: npm run chaos -- --backend ${BACKENDS.join('|')} [--minutes N] [--seed S] [--workers N] [--drain-seconds N] [--keep] [--allow-missed-events]\n`);
  process.exit(2);
}
const backendName = args.backend as ChaosBackendName;
if (!BACKENDS.includes(backendName)) fail(`--backend must be one of ${BACKENDS.join(', ')}, got ${JSON.stringify(args.backend)}`);
const minutes = Number(args.minutes);
const workerCount = Number(args.workers);
const drainMs = Number(args['drain-seconds']) * 1000;
if (!(minutes > 0)) fail(`--minutes must be a positive number, got ${JSON.stringify(args.minutes)}`);
if (!Number.isInteger(workerCount) || workerCount < 1) fail(`--workers must be a positive integer, got ${JSON.stringify(args.workers)}`);
if (!(drainMs > 0)) fail(`--drain-seconds must be a positive number, got ${JSON.stringify(args['drain-seconds'])}`);
const seed = args.seed === undefined ? Math.floor(Math.random() * 0x7fffffff) : Number(args.seed);
if (!Number.isInteger(seed)) fail(`--seed must be an integer, got ${JSON.stringify(args.seed)}`);

/** Short leases so kills are recovered quickly; the loaded machine's stalls make some spurious ones, which is chaos too. */
const LEASE_MS = 3_000;
const NODE_OPTIONS = { leaseMs: LEASE_MS, checkProcessQueueInterval: 500 };
const FAULTS = [
  'claim:before-start=crash',
  'handler:before-complete=crash',
  'complete:in-transition=crash',
  'hook:after-add-after=crash',
  // Frozen past its lease: declared dead while it holds jobs, then it wakes up (fencing).
  `claim:before-start=stall:${LEASE_MS * 2}`,
  `handler:before-complete=stall:${LEASE_MS * 2}`,
  // Frozen with a completion sent and its answer unread (a server; SQLite would freeze inside its write transaction, stalling every process).
  ...(backendName === 'sqlite' ? [] : [`complete:in-transition=stall:${LEASE_MS * 2}`]),
];
const WORKER_SCRIPT = fileURLToPath(new URL('./worker.ts', import.meta.url));
const CREATOR_SCRIPT = fileURLToPath(new URL('./creator.ts', import.meta.url));

const say = (line: string): void => void process.stdout.write(`${line}\n`);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const random = new Random(seed);
const creatorSeed = random.fork().seed;
const chaosRandom = random.fork();
const counts = { kills: 0, workersStarted: 0, notReady: 0, restarts: 0, faultArmed: 0 };
const workers: Child[] = [];
const allWorkers: Child[] = [];
let stopping = false;
let chaosOver = false;
let workerSerial = 0;

function startWorker(backend: ChaosBackend, armed: boolean): void {
  const name = `w${++workerSerial}`;
  let faults: string | undefined;
  if (armed) {
    const fault = chaosRandom.pick(FAULTS);
    // A hook that adds work is rare next to tasks: a worker armed at its 2nd+ one was usually
    // killed before reaching it, and a 90 s run never crashed there. The first one it runs, then.
    faults = `${fault}@${fault.startsWith('hook') ? 1 : chaosRandom.int(1, 25)}`;
    counts.faultArmed++;
  }
  const worker = forkChild(WORKER_SCRIPT, name, { ...backend.options, ...NODE_OPTIONS }, logDir, faults);
  counts.workersStarted++;
  workers.push(worker);
  allWorkers.push(worker);
  void worker.exited.then(async ({ code }) => {
    workers.splice(workers.indexOf(worker), 1);
    if (code === 3) counts.notReady++;
    if (stopping || worker.killedByRun) return;
    // Died by itself (a fault point, or its store was down at start): replace it, unarmed after the chaos.
    await sleep(code === 3 ? 1_000 : 200);
    if (!stopping) startWorker(backend, !chaosOver && chaosRandom.chance(0.35));
  });
}

async function killLoop(backend: ChaosBackend, until: number): Promise<void> {
  while (Date.now() < until) {
    await sleep(chaosRandom.int(1_000, 3_000));
    const alive = workers.filter(isRunning);
    if (alive.length === 0 || Date.now() >= until) continue;
    const victim = chaosRandom.pick(alive);
    counts.kills++;
    await killHard(victim);
    startWorker(backend, chaosRandom.chance(0.35));
  }
}

async function restartLoop(backend: ChaosBackend, until: number): Promise<void> {
  if (backend.name === 'sqlite') return; // no server: SQLite's crash safety is exercised by the kills (complete:in-transition dies inside a write transaction)
  for (;;) {
    await sleep(chaosRandom.int(10_000, 20_000));
    if (Date.now() >= until) return;
    const outage = chaosRandom.int(200, 2_000);
    say(`  restarting ${backend.name} (down ${outage} ms)`);
    await backend.restart(outage);
    counts.restarts++;
  }
}

/** Waits until every planned workflow is finished in the store; returns those that are not when the bound runs out. */
async function drain(ids: string[], boundMs: number): Promise<string[]> {
  const deadline = Date.now() + boundMs;
  let open = ids;
  while (open.length > 0 && Date.now() < deadline) {
    const still: string[] = [];
    for (const id of open) {
      const workflow = await WorkFlow.getById(id);
      const status = workflow === null ? null : (await workflow.refresh()).status;
      if (status === 'pending' || status === 'running') still.push(id);
    }
    open = still;
    if (open.length > 0) await sleep(1_000);
  }
  return open;
}

/** Waits until the creator heard the end of every workflow it started (or the bound runs out; the verdict reports what is missing). */
async function heardEnds(ids: string[], boundMs: number): Promise<void> {
  const deadline = Date.now() + boundMs;
  for (;;) {
    const records = readCreator();
    const ended = new Set(records.flatMap((entry) => (entry.type === 'done' || entry.type === 'start-error' ? [entry.wf] : [])));
    if (ids.every((id) => ended.has(id)) || Date.now() > deadline) return;
    await sleep(250);
  }
}

function readCreator(): CreatorRecord[] {
  return readFileSync(join(logDir, 'creator.jsonl'), 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as CreatorRecord);
}

async function stored(id: string): Promise<StoredWorkflow | null> {
  const workflow = await WorkFlow.getById(id);
  return workflow === null ? null : workflow.results();
}

/** Why a workflow is still open: its steps' states. */
async function describeOpen(id: string): Promise<string> {
  const workflow = await WorkFlow.getById(id);
  if (workflow === null) return `workflow ${id}: gone`;
  const result = await workflow.results();
  const steps = result.steps.map((step) => `${step.name}=${step.status} ${step.progress.done}/${step.progress.total}`).join(', ');
  return `workflow ${id} still ${result.status} after the drain bound: ${steps}`;
}

const logDir = mkdtempSync(join(tmpdir(), `deflow-chaos-${backendName}-`));
const replay = `npm run chaos -- --backend ${backendName} --minutes ${minutes} --seed ${seed}`;
say(`chaos: backend ${backendName}, ${minutes} min, ${workerCount} workers, seed ${seed}; logs in ${logDir}`);
const startedAt = Date.now();
const backend = await startBackend(backendName);
let exitCode = 1;
let creator: Child | null = null;
try {
  creator = forkChild(CREATOR_SCRIPT, 'creator', { options: { ...backend.options, ...NODE_OPTIONS }, seed: creatorSeed, maxInFlight: 6 }, logDir);
  await creator.message('ready', 60_000);
  for (let i = 0; i < workerCount; i++) startWorker(backend, false);

  const until = Date.now() + minutes * 60_000;
  const progress = setInterval(() => say(`  ${Math.round((Date.now() - startedAt) / 1000)} s: ${counts.kills} kills, ${counts.restarts} restarts, ${workers.length} workers`), 15_000);
  await Promise.all([killLoop(backend, until), restartLoop(backend, until)]);
  chaosOver = true;
  clearInterval(progress);

  const stopped = creator.message('stopped', 30_000);
  creator.process.send('stop');
  say(`  chaos over: ${String((await stopped).created)} workflows created; draining`);
  // Workers dead or armed are replaced by unarmed ones, so the drain does not depend on luck.
  for (const worker of workers.filter((w) => w.faults !== undefined)) await killHard(worker);
  while (workers.filter(isRunning).length < workerCount) startWorker(backend, false);

  DeFlow.register({ ...backend.options, worker: false });
  await DeFlow.getInstance().ready();
  const plans = readCreator().flatMap((entry) => (entry.type === 'plan' ? [entry.wf] : []));
  const drainStart = Date.now();
  const open = await drain(plans, drainMs);
  const drainedIn = (Date.now() - drainStart) / 1000;
  // The creator's handles hear the last ends a moment after the store has them (a loaded machine: up to 30 s).
  await heardEnds(plans, 30_000);
  await sleep(500);
  creator.process.send('exit');
  await Promise.race([creator.exited, sleep(15_000)]);

  const facts = { creator: readCreator(), effects: readEffects(logDir), stored: new Map<string, StoredWorkflow | null>() };
  for (const id of plans) facts.stored.set(id, await stored(id));
  const hangs = await Promise.all(open.map(describeOpen));
  const verdict = verify(facts);
  const missed = verdict.missedEvents.filter((v) => !open.some((id) => v.includes(id)));
  const violations = [...hangs, ...verdict.violations.filter((v) => !open.some((id) => v.includes(id))), ...(args['allow-missed-events'] ? [] : missed)];

  const s = verdict.stats;
  const faultsHit = new Map<string, number>();
  for (const worker of allWorkers) for (const hit of worker.faultsHit) faultsHit.set(hit, (faultsHit.get(hit) ?? 0) + 1);
  say('');
  say(`chaos summary (${backendName}, seed ${seed}, ${Math.round((Date.now() - startedAt) / 1000)} s)`);
  say(`  workflows   ${s.workflows} (${Object.entries(s.byVariant).map(([k, v]) => `${k} ${v}`).join(', ')}): ${s.succeeded} succeeded, ${s.failed} failed, ${s.neverStored} never stored (store down at creation)`);
  say(`  tasks       ${s.tasks}, ${s.taskAttempts} attempts, ${s.repeatedAttempts} repeated; hooks ${s.hookAttempts} attempts, ${s.repeatedHooks} repeated`);
  say(`  lost        ${s.lostAttempts} attempts lost with their node (maxNodeLosses), none counted as a failure`);
  say(`  late starts ${s.lateStarts} attempts began after their step had finished (by a node declared dead)`);
  say(`  kills       ${counts.kills} kill -9, ${counts.workersStarted} workers started (${counts.faultArmed} armed, ${counts.notReady} found the store down)`);
  say(`  faults hit  ${faultsHit.size === 0 ? 'none' : [...faultsHit].map(([k, v]) => `${k} x${v}`).join(', ')}`);
  say(`  restarts    ${backend.name === 'sqlite' ? 'n/a (no server)' : counts.restarts}`);
  say(`  drained in  ${drainedIn.toFixed(1)} s (bound ${drainMs / 1000} s)`);
  if (args['allow-missed-events'] && missed.length > 0) {
    say(`  missed      ${missed.length} step or done events a handle never heard (allowed by --allow-missed-events):`);
    for (const line of missed.slice(0, 10)) say(`    ${line}`);
  }
  if (violations.length === 0 && s.workflows > 0) {
    say('PASS');
    exitCode = 0;
  } else {
    say(`FAIL: ${violations.length === 0 ? 'no workflow was created' : `${violations.length} violations`}`);
    for (const violation of violations.slice(0, 100)) say(`  - ${violation}`);
    if (violations.length > 100) say(`  … and ${violations.length - 100} more`);
    const suspects = [...new Set([...open, ...violations.flatMap((v) => /workflow (\S+)/.exec(v)?.[1] ?? [])])].slice(0, 20);
    await backend
      .dump(suspects)
      .then((text) => writeFileSync(join(logDir, 'store-dump.json'), text))
      .catch((error: unknown) => say(`  (could not dump the store: ${String(error)})`));
    say(`replay: ${replay}`);
    say(`logs: ${logDir} (side effects *.jsonl, creator.jsonl, worker stderr and problems, store-dump.json: the store's rows or keys of the workflows named above)`);
  }
} catch (error) {
  say(`chaos: the run itself broke: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  say(`replay: ${replay}; logs: ${logDir}`);
} finally {
  stopping = true;
  await Promise.all(workers.map(killHard));
  if (creator !== null) await killHard(creator);
  await DeFlow.unregister().catch(() => undefined);
  await backend.destroy();
  if (exitCode === 0 && args.keep !== true) rmSync(logDir, { recursive: true, force: true });
}
process.exit(exitCode);
