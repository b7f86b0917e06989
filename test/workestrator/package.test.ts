/**
 * deflow/workestrator as users load it: `require()` from CommonJS and `import` from ESM, through
 * the package's `exports`. Runs the built package (npm test builds first): by its name from
 * inside the repository, then installed from the tarball `npm pack` makes into an empty project.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SCRIPTS = fileURLToPath(new URL('./fixtures/package/', import.meta.url));

/** What both scripts print: Workestrator's README usage, a custom serializer, CBOR, retries, events. */
const EXPECTED = {
  workers: 2,
  run: 6,
  runMethod: 'bar:1:2:3',
  broadcast: [[3, 3], []],
  failure: [true, 'always'],
  date: true,
  cbor: [1, 2],
  online: [1, 2],
};

async function runScript(dir: string, script: string): Promise<unknown> {
  const { stdout, stderr } = await run(process.execPath, [path.join(dir, script)], { cwd: dir, timeout: 60_000 });
  expect(stderr).toBe('');
  return JSON.parse(stdout) as unknown;
}

describe('from the repository, by package name', () => {
  test.each(['user.cjs', 'user.mjs'])('%s', async (script) => {
    expect(await runScript(SCRIPTS, script)).toEqual(EXPECTED);
  });
});

describe('installed from the packed tarball into an empty project', () => {
  let project: string;

  beforeAll(async () => {
    project = fs.mkdtempSync(path.join(os.tmpdir(), 'deflow-workestrator-'));
    const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', project], { cwd: ROOT, timeout: 120_000 });
    const [{ filename }] = JSON.parse(stdout) as [{ filename: string }];
    const installed = path.join(project, 'node_modules', 'deflow');
    fs.mkdirSync(installed, { recursive: true });
    await run('tar', ['-xzf', path.join(project, filename), '-C', installed, '--strip-components=1']);
    // The package's dependencies, as npm would install them (offline: linked from this checkout).
    const { dependencies } = JSON.parse(fs.readFileSync(path.join(installed, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    for (const name of Object.keys(dependencies)) {
      const target = path.join(project, 'node_modules', name);
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.symlinkSync(path.join(ROOT, 'node_modules', name), target, 'dir');
    }
    fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'a-user', private: true }));
    for (const file of fs.readdirSync(SCRIPTS)) fs.copyFileSync(path.join(SCRIPTS, file), path.join(project, file));
  }, 180_000);

  afterAll(() => fs.rmSync(project, { recursive: true, force: true }));

  test('the tarball holds the entry, its types and the serializer modules', () => {
    const dist = path.join(project, 'node_modules/deflow/dist/workestrator');
    for (const file of ['index.js', 'index.d.ts', 'serializers/json.js', 'serializers/cbor.js']) expect(fs.existsSync(path.join(dist, file)), file).toBe(true);
  });

  test.each(['user.cjs', 'user.mjs'])('%s', async (script) => {
    expect(await runScript(project, script)).toEqual(EXPECTED);
  });
});
