#!/usr/bin/env node
/** The `deflow` command. */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { DeflowError } from '../index.js';
import { demoCommand } from './commands/demo.js';
import { lsCommand } from './commands/ls.js';
import { runCommand } from './commands/run.js';
import { showCommand } from './commands/show.js';
import { workerCommand } from './commands/worker.js';

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

const program = new Command()
  .name('deflow')
  .version(version)
  .description('durable, distributed workflows for Node.js')
  .showHelpAfterError('(run with --help for usage)');

demoCommand(program);
runCommand(program);
workerCommand(program);
lsCommand(program);
showCommand(program);

program.parseAsync(process.argv).catch((error: unknown) => {
  const message = error instanceof DeflowError ? `${error.message} [${error.code}]` : error instanceof Error ? error.message : String(error);
  process.stderr.write(`deflow: ${message}\n`);
  process.exitCode = 1;
});
