/**
 * The public side of the module rule (src/engine/module-policy.ts): addStep refuses a step module
 * no node would import, and register() checks `stepDirs`. No backend behaviour.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import DeFlow, { StepHandler, ValidationError, WorkFlow } from '../../src/index.js';

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

  it('refuses at addStep a module file outside the step directories of this process, naming the file and the directories', async () => {
    const allowed = mkdtempSync(join(tmpdir(), 'deflow-allowed-'));
    const outside = mkdtempSync(join(tmpdir(), 'deflow-outside-'));
    dirs.push(allowed, outside);
    const stray = join(outside, 'stray-step.mjs');
    writeFileSync(stray, 'throw new Error("imported although refused");\n');
    const inside = join(allowed, 'step.mjs');
    writeFileSync(inside, '');
    // Before register() the directories are not known: nothing to judge by yet.
    const early = WorkFlow.create('early').addStep({ step: stray, tasks: [1] });
    const deflow = DeFlow.register({ backend: `sqlite:${join(allowed, 'db.sqlite')}`, stepDirs: [allowed], worker: false });
    for (const step of [stray, new URL(`file://${stray}`)]) {
      const add = (): unknown => WorkFlow.create('stray').addStep({ step });
      expect(add).toThrow(ValidationError);
      expect(add).toThrow(
        `no node would import this step module, this process included: the module "${stray.replace(/^/, step instanceof URL ? 'file://' : '')}" is outside the step directories this node may import from (${allowed}); add its directory to DeFlow.register({ stepDirs })`,
      );
    }
    expect(() => WorkFlow.create('inside').addStep({ step: inside })).not.toThrow();
    // A workflow drafted before register() is checked when it runs, and nothing is imported.
    early.run();
    await expect(early.started()).rejects.toThrow(/no node would import this step module.*stray-step.mjs/);
    await deflow.ready();
  });

  it("refuses at step.addAfter a module file outside the node's step directories", async () => {
    const allowed = mkdtempSync(join(tmpdir(), 'deflow-allowed-'));
    const outside = mkdtempSync(join(tmpdir(), 'deflow-outside-'));
    dirs.push(allowed, outside);
    const stray = join(outside, 'stray-step.mjs');
    writeFileSync(stray, 'throw new Error("imported although refused");\n');
    // Defined here, so registered by this process: the node runs it without importing anything.
    const addsStray = new StepHandler<unknown, number, string>({
      name: 'adds-stray',
      async handler(_task, step) {
        try {
          await step.addAfter({ step: stray });
          return 'added';
        } catch (error) {
          return `${(error as Error).name}: ${(error as Error).message}`;
        }
      },
    });
    DeFlow.register({ backend: `sqlite:${join(allowed, 'db.sqlite')}`, stepDirs: [allowed] });
    const result = await WorkFlow.create('adds-stray').addStep({ step: addsStray, tasks: [1] }).run().done();
    expect(result.steps[0]?.tasks[0]?.result).toMatch(
      /^ValidationError: step.addAfter\(\): no node would import this step module, this process included: the module ".*stray-step.mjs" is outside the step directories/,
    );
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

  it('warns once when register() has no stepDirs and the working directory is /: every file would be allowed', () => {
    const dir = mkdtempSync(join(tmpdir(), 'deflow-root-'));
    dirs.push(dir);
    const index = fileURLToPath(new URL('../../src/index.ts', import.meta.url));
    const tsx = new URL('../../node_modules/tsx/dist/loader.mjs', import.meta.url).href;
    const script = [
      `import DeFlow from ${JSON.stringify(index)};`,
      "process.on('warning', (w) => { if (w.code === 'DEFLOW_STEP_DIRS_ROOT') console.log('WARNING ' + w.message); });",
      `const backend = ${JSON.stringify(`sqlite:${join(dir, 'db.sqlite')}`)};`,
      // Warnings are emitted on the next tick: wait for one before the next registration.
      'const settle = () => new Promise((resolve) => setTimeout(resolve, 50));',
      "console.log('REGISTER stepDirs'); DeFlow.register({ backend, stepDirs: [" + JSON.stringify(dir) + '] }); await DeFlow.unregister(); await settle();',
      // A node that runs no steps imports none: nothing to warn about.
      "console.log('REGISTER no worker'); DeFlow.register({ backend, worker: false }); await DeFlow.unregister(); await settle();",
      "console.log('REGISTER worker'); DeFlow.register({ backend }); await DeFlow.unregister(); await settle();",
      "console.log('REGISTER worker again'); DeFlow.register({ backend }); await DeFlow.unregister(); await settle();",
    ].join('\n');
    const file = join(dir, 'register-at-root.mjs');
    writeFileSync(file, script);
    const atRoot = execFileSync(process.execPath, ['--import', tsx, file], { cwd: '/', encoding: 'utf8', timeout: 30_000 });
    const lines = atRoot.split('\n').filter((line) => line !== '');
    expect(lines.map((line) => line.replace(/^WARNING .*/, 'WARNING'))).toEqual([
      'REGISTER stepDirs',
      'REGISTER no worker',
      'REGISTER worker',
      'WARNING',
      'REGISTER worker again',
    ]);
    expect(lines[3]).toMatch(/no stepDirs and the working directory is \/: this node may import any file on the machine .* pass DeFlow.register\(\{ stepDirs/);
    const elsewhere = execFileSync(process.execPath, ['--import', tsx, file], { cwd: dir, encoding: 'utf8', timeout: 30_000 });
    expect(elsewhere).not.toContain('WARNING');
  });
});
