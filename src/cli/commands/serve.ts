/**
 * `deflow serve`: the HTTP API, event stream, metrics and dashboard (docs/server.md). With
 * --steps or --workflows it is also a worker running those modules (as `deflow worker`), unless
 * --no-worker; without them it only serves. It refuses to listen beyond this machine without
 * a token (DEFLOW_TOKEN or --token), and never prints a token.
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import DeFlow, { ValidationError } from '../../index.js';
import { scanStepModules } from '../../api/step-module-scan.js';
import { registerOptions, withBackendOptions } from '../backend-option.js';
import type { BackendOptions } from '../backend-option.js';
import { enableTypeScript } from '../ts-loader.js';
import { cliMilliseconds, reportProblems, withStartupTimeout } from '../startup.js';
import { printable } from '../format.js';
import { loadTriggerModules } from '../trigger-modules.js';
import { loadWorkflowModules } from '../workflow-modules.js';
import { collect, existingDir, importStepModule } from './worker.js';

interface ServeOptions extends BackendOptions {
  port: string;
  host: string;
  steps?: string[];
  workflows?: string[];
  allow?: string[];
  triggers?: string[];
  token?: string[];
  worker: boolean;
  bodyLimit: string;
  publicMetrics?: boolean;
  stacks?: boolean;
  startupTimeout: string;
}

export function serveCommand(program: Command): void {
  const command = withBackendOptions(
    program
      .command('serve')
      .description('serve the HTTP API, event stream, metrics and dashboard (and run --steps as a worker)')
      .option('-p, --port <port>', 'port to listen on', '3000')
      .option('--host <host>', 'address to listen on (beyond 127.0.0.1 a token is required)', '127.0.0.1')
      .option('-s, --steps <dir>', 'directory of step modules to run as a worker (repeatable); without it (or --workflows) the server only serves', collect)
      .option('-w, --workflows <dir>', 'directory of workflow definition modules (defineWorkflow) that POST /api/workflows starts (repeatable)', collect)
      .option('--triggers <file>', 'module whose default export (server) => void registers triggers: server.trigger(name, [parser, ...]) (repeatable)', collect)
      .option('--allow <dir>', 'directory whose modules may be imported when a stored step names them (repeatable)', collect)
      .option('--token <token>', 'bearer token clients must send (repeatable; default: $DEFLOW_TOKEN, comma-separated)', collect)
      .option('--no-worker', 'only serve, even with --steps')
      .option('--body-limit <bytes>', 'largest request body', String(64 * 1024))
      .option('--public-metrics', 'serve /metrics without a token')
      .option('--stacks', "show failed tasks' stacks in the API and the dashboard (they name your files)"),
  );
  withStartupTimeout(command).action(async (options: ServeOptions) => {
    const port = Number(options.port);
    if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new ValidationError(`--port must be an integer from 0 to 65535, got ${JSON.stringify(options.port)}`);
    const bodyLimit = Number(options.bodyLimit);
    if (!Number.isInteger(bodyLimit) || bodyLimit < 1) throw new ValidationError(`--body-limit must be a positive whole number of bytes, got ${JSON.stringify(options.bodyLimit)}`);
    // Loaded here, not with the CLI: the other commands need no HTTP server.
    const { checkListenAddress, createServer, listenServer } = await import('../../server/index.js');
    const tokens = options.token ?? (process.env.DEFLOW_TOKEN ?? '').split(',').map((token) => token.trim()).filter((token) => token !== '');
    // Before anything connects: a refused address should not cost a backend start-up.
    checkListenAddress(options.host, tokens);
    const stepsDirs = (options.steps ?? []).map((dir) => resolve(dir));
    const allowDirs = (options.allow ?? []).map((dir) => existingDir(dir, '--allow'));
    const workflowsDirs = (options.workflows ?? []).map((dir) => resolve(dir));
    // Workflow modules may define their handlers inline: a server given them runs them too.
    const worker = options.worker && (stepsDirs.length > 0 || workflowsDirs.length > 0);
    const stepDirs = [...new Set([...stepsDirs, ...workflowsDirs, ...allowDirs])];
    let loaded = 0;
    if (worker && stepsDirs.length > 0) {
      enableTypeScript();
      const scan = scanStepModules(stepsDirs, stepDirs);
      for (const line of scan.skipped) process.stderr.write(`deflow serve: ${line}\n`);
      if (scan.modules.length === 0) throw new ValidationError(`no step modules (.ts, .mts, .js, .mjs) found in ${stepsDirs.join(', ')}`);
      for (const module of scan.modules) if (await importStepModule(module)) loaded += 1;
    }
    // As `deflow worker --workflows`: the definitions POST /api/workflows starts by name.
    if (workflowsDirs.length > 0 || (options.triggers ?? []).length > 0) enableTypeScript();
    const definitions = workflowsDirs.length === 0 ? [] : await loadWorkflowModules(workflowsDirs, stepDirs, 'serve');
    const startupTimeout = cliMilliseconds(options.startupTimeout, '--startup-timeout', 0);
    const deflow = DeFlow.register({ ...registerOptions(options), worker, ...(stepDirs.length > 0 ? { stepDirs } : {}), startupTimeout });
    reportProblems(deflow, 'serve');
    await deflow.ready();
    const app = await createServer({ deflow, tokens, bodyLimit, publicMetrics: options.publicMetrics === true, stacks: options.stacks === true });
    await loadTriggerModules(options.triggers ?? [], app);
    const url = await listenServer(app, { host: options.host, port, tokens });
    const backend = (await deflow.services()).backend;
    const role = !worker ? 'serving only (no worker)' : stepsDirs.length > 0 ? `worker with ${loaded} step modules` : 'worker for its workflow definitions';
    const auth = tokens.length === 0 ? 'no token: this machine only' : `${tokens.length} token${tokens.length === 1 ? '' : 's'}`;
    const defined = definitions.length === 0 ? '' : `, workflow definitions: ${definitions.map((name) => printable(name)).join(', ')}`;
    const triggerNames = app.triggerNames();
    const triggered = triggerNames.length === 0 ? '' : `, triggers: ${triggerNames.map((name) => printable(name)).join(', ')}`;
    process.stderr.write(`deflow serve ${process.pid} on ${backend.kind} (${backend.location}), ${role}, ${auth}${defined}${triggered}\n`);
    process.stdout.write(`${url}/\n`);
    await new Promise<void>((done) => {
      const stop = (signal: string): void => {
        process.stderr.write(`${signal}: closing the server, finishing running tasks...\n`);
        void app
          .close()
          .then(() => DeFlow.unregister())
          .then(done);
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
    });
  });
}
