/**
 * The deflow command prints stored names as text, never as terminal commands: whoever can
 * write the backend chooses them, and "\x1b[2J" must not clear the screen of whoever lists them.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import DeFlow, { StepHandler, WorkFlow } from '../src/index.js';
import { printable } from '../src/cli/format.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const TSX = new URL('../node_modules/tsx/dist/loader.mjs', import.meta.url).href;

const WORKFLOW = 'evil\x1b[2J\nname\u202e';
const STEP = 'step\x1b]0;pwned\x07\t\x9b';
// What a terminal would act on: any C0 control but the line breaks of the output itself, DEL, C1, bidi overrides.
// eslint-disable-next-line no-control-regex
const RAW_CONTROL = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/;

function deflow(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', TSX, MAIN, ...args], { timeout: 60_000, env: { ...process.env, NO_COLOR: '1' } }, (_e, stdout, stderr) => {
      resolve({ stdout, stderr });
    });
  });
}

describe('deflow CLI output of stored names', () => {
  const dir = mkdtempSync(join(tmpdir(), 'deflow-escape-'));
  const backend = `sqlite:${join(dir, 'deflow.db')}`;
  let id = '';

  beforeAll(async () => {
    DeFlow.register({ backend });
    const fails = new StepHandler<unknown, string, string>({
      name: 'escape-fails',
      handler: (task) => {
        throw new Error(`bad\x1b[31m ${task.data}`);
      },
    });
    const workflow = WorkFlow.create(WORKFLOW).addStep({ name: STEP, step: fails, tasks: ['t\x1b[0m'] }).run();
    id = workflow.id;
    await workflow.done().catch(() => undefined);
    await DeFlow.unregister();
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('escapes control characters in one formatter', () => {
    expect(printable('a\x1b[2J\nb\r\t\x00\x7f\x9b\u202e\u2028c\\x')).toBe('a\\x1b[2J\\nb\\r\\t\\x00\\x7f\\x9b\\u202e\\u2028c\\x');
    expect(printable('plain – naïve 名前')).toBe('plain – naïve 名前');
  });

  it('ls and show print names, step names and errors escaped', async () => {
    const ls = await deflow(['ls', '--backend', backend]);
    expect(ls.stdout).toContain('evil\\x1b[2J\\nname\\u202e');
    expect(ls.stdout).not.toMatch(RAW_CONTROL);

    const show = await deflow(['show', id, '--backend', backend]);
    expect(show.stdout).toContain('evil\\x1b[2J\\nname\\u202e');
    expect(show.stdout).toContain('step\\x1b]0;pwned\\x07\\t\\x9b');
    expect(show.stdout).toContain('bad\\x1b[31m');
    expect(show.stdout).not.toMatch(RAW_CONTROL);

    const missing = await deflow(['show', 'no\x1b[2Jsuch', '--backend', backend]);
    expect(missing.stderr).toContain('no workflow no\\x1b[2Jsuch');
    expect(missing.stderr).not.toMatch(RAW_CONTROL);
  });

  it('run prints the progress, summary and outcome with names escaped', async () => {
    const run = await deflow(['run', fileURLToPath(new URL('./fixtures/cli/escaped-names.ts', import.meta.url)), '--backend', backend]);
    expect(run.stdout).toContain('workflow run\\x1b[2J\\nname (');
    expect(run.stdout).toContain('bar\\x1b[1A\\rstep');
    expect(run.stderr).toContain('bar\\x1b[1A\\rstep');
    expect(run.stdout).not.toMatch(RAW_CONTROL);
    expect(run.stderr.replaceAll('\r', '')).not.toMatch(RAW_CONTROL); // cli-progress redraws lines with \r itself
  });
});
