/**
 * Which step modules a node imports (src/engine/module-policy.ts): only local files inside its
 * step directories, judged on the real path; everything else is refused with a message that
 * names the module (cut, without a password) and the directories.
 */
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StepModuleError } from '../../src/errors.js';
import { HandlerResolver } from '../../src/engine/handler-resolver.js';
import { ModulePolicy, quoteSpecifier, specifierRefusal } from '../../src/engine/module-policy.js';

let root: string;
let steps: string;
let outside: string;

beforeEach(() => {
  root = realpathSync(mkdtempSync(join(tmpdir(), 'deflow-policy-')));
  steps = join(root, 'steps');
  mkdirSync(steps);
  writeFileSync(join(steps, 'inside.js'), 'export default 1;\n');
  outside = join(root, 'outside.js');
  writeFileSync(outside, 'export default 2;\n');
  symlinkSync(outside, join(steps, 'link-out.js'));
  symlinkSync(join(steps, 'inside.js'), join(root, 'link-in.js'));
});

afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('ModulePolicy', () => {
  it('allows a file inside a step directory, given as a path or a file URL, and imports its real path', () => {
    const policy = new ModulePolicy([steps]);
    const url = pathToFileURL(join(steps, 'inside.js')).href;
    expect(policy.check(join(steps, 'inside.js'))).toEqual({ allowed: true, url });
    expect(policy.check(url)).toEqual({ allowed: true, url });
    expect(policy.check(join(root, 'link-in.js'))).toEqual({ allowed: true, url }); // a link from outside to a file inside
    expect(policy.check(`${url}?v=2`)).toEqual({ allowed: true, url });
  });

  it('refuses a file outside the step directories, also reached through a symlink or ..', () => {
    const policy = new ModulePolicy([steps]);
    for (const specifier of [outside, pathToFileURL(outside).href, join(steps, 'link-out.js'), `${steps}/../outside.js`, join(root, 'missing.js')]) {
      const verdict = policy.check(specifier);
      expect(verdict.allowed, specifier).toBe(false);
      expect(verdict).toMatchObject({ reason: expect.stringContaining(`is outside the step directories this node may import from (${steps})`) as unknown });
    }
  });

  it('refuses every scheme but file:, and bare or relative specifiers, naming the directories', () => {
    const policy = new ModulePolicy([steps]);
    for (const [specifier, why] of [
      ['data:text/javascript,export default 1', 'uses the "data:" scheme'],
      ['https://example.com/step.js', 'uses the "https:" scheme'],
      ['HTTP://example.com/step.js', 'uses the "http:" scheme'],
      ['node:child_process', 'uses the "node:" scheme'],
      ['lodash', 'is neither a file: URL nor an absolute path'],
      ['./steps/inside.js', 'is neither a file: URL nor an absolute path'],
      ['file://remote-host/share/step.js', 'is not a usable file URL'],
    ] as const) {
      const verdict = policy.check(specifier);
      expect(verdict.allowed, specifier).toBe(false);
      expect(verdict).toMatchObject({ reason: expect.stringContaining(why) as unknown });
      expect(verdict).toMatchObject({ reason: expect.stringContaining(`(this node's step directories: ${steps})`) as unknown });
    }
    expect(specifierRefusal(join(steps, 'inside.js'))).toBeUndefined();
  });

  it('refuses a file under a node_modules directory inside a step directory, also through a symlink', () => {
    mkdirSync(join(steps, 'node_modules', 'pkg'), { recursive: true });
    const dependency = join(steps, 'node_modules', 'pkg', 'index.js');
    writeFileSync(dependency, 'export default 3;\n');
    symlinkSync(dependency, join(steps, 'dep-link.js'));
    mkdirSync(join(steps, 'sub', 'node_modules'), { recursive: true });
    writeFileSync(join(steps, 'sub', 'node_modules', 'deep.js'), 'export default 4;\n');
    const policy = new ModulePolicy([steps]);
    for (const specifier of [dependency, pathToFileURL(dependency).href, join(steps, 'dep-link.js'), join(steps, 'sub', 'node_modules', 'deep.js')]) {
      const verdict = policy.check(specifier);
      expect(verdict.allowed, specifier).toBe(false);
      expect(verdict).toMatchObject({ reason: expect.stringContaining('is inside a node_modules directory of a step directory') as unknown });
    }
    // A directory given inside node_modules is allowed as given; a name merely containing it is not a segment.
    expect(new ModulePolicy([steps, join(steps, 'node_modules', 'pkg')]).check(dependency).allowed).toBe(true);
    writeFileSync(join(steps, 'my_node_modules.js'), 'export default 5;\n');
    expect(policy.check(join(steps, 'my_node_modules.js')).allowed).toBe(true);
  });

  it('defaults to the working directory', () => {
    expect(new ModulePolicy().dirs).toEqual([process.cwd()]);
    expect(new ModulePolicy([]).check(outside).allowed).toBe(root.startsWith(process.cwd() + '/'));
  });

  it('quotes a module without its password, and cuts a long one', () => {
    expect(quoteSpecifier('https://user:hunter2@example.com/step.js')).toBe('"https://user:***@example.com/step.js"');
    const long = `data:text/javascript,${'x'.repeat(10_000)}`;
    const quoted = quoteSpecifier(long);
    expect(quoted.length).toBeLessThan(200);
    expect(quoted).toMatch(/^"data:text\/javascript,x+"\.\.\. \(10021 characters\)$/);
  });
});

describe('HandlerResolver', () => {
  it('never imports a refused module: its handler fails every job with a StepModuleError naming the module and the directories', async () => {
    const imported: string[] = [];
    const resolver = new HandlerResolver(new ModulePolicy([steps]), (specifier) => {
      imported.push(specifier);
      return Promise.resolve({});
    });
    const refused = resolver.resolve({ key: 'policy-outside', module: pathToFileURL(outside).href, hasBeforeAll: false, hasAfterAll: false });
    expect(refused).not.toBeInstanceOf(Promise);
    const refusal = (refused as { refusal?: unknown } | null)?.refusal;
    expect(refusal).toBeInstanceOf(StepModuleError);
    expect(refusal).toMatchObject({ code: 'ERR_STEP_MODULE', stepDirs: [steps], message: expect.stringContaining('outside.js') as unknown });
    // Allowed: imported through its real path.
    await resolver.resolve({ key: 'policy-inside', module: join(root, 'link-in.js'), hasBeforeAll: false, hasAfterAll: false });
    expect(imported).toEqual([pathToFileURL(join(steps, 'inside.js')).href]);
    // A stored step naming a dependency under the step directory: refused, never imported.
    mkdirSync(join(steps, 'node_modules', 'pkg'), { recursive: true });
    writeFileSync(join(steps, 'node_modules', 'pkg', 'index.js'), 'export default 3;\n');
    const dependency = resolver.resolve({ key: 'policy-dependency', module: pathToFileURL(join(steps, 'node_modules', 'pkg', 'index.js')).href, hasBeforeAll: false, hasAfterAll: false });
    expect((dependency as { refusal?: unknown } | null)?.refusal).toMatchObject({ code: 'ERR_STEP_MODULE', message: expect.stringContaining('node_modules') as unknown });
    expect(imported).toHaveLength(1);
  });
});
