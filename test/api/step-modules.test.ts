/**
 * The public side of the module rule (src/engine/module-policy.ts): addStep refuses a step module
 * no node would import, and register() checks `stepDirs`. No backend behaviour.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import DeFlow, { ValidationError, WorkFlow } from '../../src/index.js';

const dirs: string[] = [];
afterEach(async () => {
  await DeFlow.unregister();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('step modules at the public API', () => {
  it('refuses at addStep a step module with a scheme other than file:, saying what to give instead', () => {
    const workflow = WorkFlow.create('step-modules');
    for (const [step, scheme] of [
      ['data:text/javascript,export default 1', 'data'],
      ['https://user:hunter2@example.com/step.js', 'https'],
      ['node:child_process', 'node'],
      [new URL('data:text/javascript,export%20default%201'), 'data'],
    ] as const) {
      const add = (): unknown => workflow.addStep({ step });
      expect(add).toThrow(ValidationError);
      expect(add).toThrow(new RegExp(`uses the "${scheme}:" scheme; only local files .* give the absolute path of a module file`));
    }
    expect(() => workflow.addStep({ step: 'https://user:hunter2@example.com/step.js' })).toThrow(/user:\*\*\*@example.com/);
    expect(() => workflow.addStep({ step: 'https://user:hunter2@example.com/step.js' })).not.toThrow(/hunter2/);
    expect(() => workflow.addStep({ step: `data:text/javascript,${'x'.repeat(5_000)}` })).toThrow(/\.\.\. \(5021 characters\)/);
  });

  it('checks stepDirs at register(): an array of existing directories', () => {
    const dir = mkdtempSync(join(tmpdir(), 'deflow-step-dirs-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'file.js'), '');
    expect(() => DeFlow.register({ stepDirs: dir as never })).toThrow(/options.stepDirs must be an array of directory paths, got "/);
    expect(() => DeFlow.register({ stepDirs: [join(dir, 'missing')] })).toThrow(/options.stepDirs\[0\]: ".*missing" is not an existing directory/);
    expect(() => DeFlow.register({ stepDirs: [dir, join(dir, 'file.js')] })).toThrow(/options.stepDirs\[1\]: .* is not an existing directory/);
    expect(() => DeFlow.register({ stepDirs: [''] })).toThrow(/options.stepDirs\[0\] must be a non-empty string/);
    const deflow = DeFlow.register({ backend: `sqlite:${join(dir, 'db.sqlite')}`, stepDirs: [dir], worker: false });
    expect(deflow.options.stepDirs).toEqual([dir]);
  });
});
