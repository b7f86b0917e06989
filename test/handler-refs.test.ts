/**
 * How other processes find a step's code: the module a handler is defined in (even when a
 * helper module built it), and never another program's script handler of the same name.
 */
import { execFile, fork } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';

const execFileAsync = promisify(execFile);
const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('handler references', () => {
  it('point at the step module that defines a handler, not at the helper that built it', async () => {
    const { stdout } = await execFileAsync(process.execPath, ['--import', 'tsx', fixture('factory-refs.ts')], { timeout: 30_000 });
    const refs = JSON.parse(stdout) as Record<'alpha' | 'beta', { key: string; module?: string }>;
    expect(refs.alpha.module).toMatch(/factory\/steps\/alpha\.ts$/);
    expect(refs.beta.module).toMatch(/factory\/steps\/beta\.ts$/); // defined after a top-level await
    expect(refs.alpha.key).toMatch(/alpha\.ts#0$/);
    expect(refs.beta.key).toMatch(/beta\.ts#0$/);
  });

  it("never let another program run a step of this program's script through a handler of the same name", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'deflow-refs-'));
    dirs.push(dir);
    const backend = `sqlite:${join(dir, 'shared.db')}`;
    const rival = fork(fixture('entry-rival.ts'), [backend], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    try {
      await new Promise<void>((resolve, reject) => {
        rival.once('message', () => resolve());
        rival.once('exit', (code) => reject(new Error(`the rival program exited (${code})`)));
      });
      const marker = join(dir, 'evaluations.txt');
      const { stdout } = await execFileAsync(process.execPath, ['--import', 'tsx', fixture('entry-inline-step.ts'), backend, marker], {
        timeout: 60_000,
      });
      const program = Number(readFileSync(marker, 'utf8').trim());
      expect(JSON.parse(stdout)).toEqual(Array.from({ length: 30 }, () => program));
    } finally {
      rival.kill('SIGKILL');
    }
  });
});
