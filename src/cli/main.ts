#!/usr/bin/env node
/** The `deflow` command. */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { DeflowError } from '../index.js';
import { redactSecrets, secretsOf } from '../backends/redact-url.js';
import { inFlagTerms } from './flag-names.js';
import { printableLines } from './format.js';
import { controlCommands } from './commands/control.js';
import { demoCommand } from './commands/demo.js';
import { lsCommand } from './commands/ls.js';
import { retryCommand } from './commands/retry.js';
import { runCommand } from './commands/run.js';
import { schedulesCommand } from './commands/schedules.js';
import { serveCommand } from './commands/serve.js';
import { showCommand } from './commands/show.js';
import { startCommand } from './commands/start.js';
import { workerCommand } from './commands/worker.js';

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

const program = new Command()
  .name('deflow')
  .version(version)
  .description('durable, distributed workflows for Node.js')
  .showHelpAfterError('(run with --help for usage)');

demoCommand(program);
runCommand(program);
startCommand(program);
workerCommand(program);
lsCommand(program);
schedulesCommand(program);
showCommand(program);
retryCommand(program);
controlCommands(program);
serveCommand(program);

/** Passwords of every backend URL this run was given, hidden in whatever failure it prints. */
const secrets = [process.env.DEFLOW_BACKEND, ...process.argv.flatMap((arg) => [arg, arg.slice(arg.indexOf('=') + 1)])]
  .filter((arg): arg is string => arg !== undefined && arg.includes('://'))
  .flatMap((url) => secretsOf(url));

program.parseAsync(process.argv).catch((error: unknown) => {
  const message = error instanceof DeflowError ? `${error.message} [${error.code}]` : error instanceof Error ? error.message : String(error);
  process.stderr.write(`deflow: ${printableLines(inFlagTerms(redactSecrets(message, secrets)))}\n`);
  process.exitCode = 1;
});
