/**
 * What `npm pack` puts in the package: every file the installed README and docs link to (a link
 * to a file left out is broken on npm and in node_modules), and no tests.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, test } from 'vitest';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Relative link targets of a Markdown file, resolved from the package root, anchors dropped. */
function relativeLinks(file: string): string[] {
  const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
  const targets = [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((match) => match[1] ?? '');
  return targets
    .filter((target) => !/^[a-z]+:/i.test(target) && !target.startsWith('#'))
    .map((target) => path.posix.normalize(path.posix.join(path.posix.dirname(file), target.split('#')[0] ?? '')).replace(/\/$/, ''));
}

test('the package holds every file its README and docs link to, and no tests', async () => {
  const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, timeout: 120_000 });
  const [{ files }] = JSON.parse(stdout) as [{ files: { path: string }[] }];
  const packed = files.map((file) => file.path);
  const documents = packed.filter((file) => file.endsWith('.md'));
  expect(documents).toContain('README.md');
  const missing: string[] = [];
  for (const document of documents) {
    for (const target of relativeLinks(document)) {
      const present = packed.includes(target) || packed.some((file) => file.startsWith(`${target}/`));
      if (!present) missing.push(`${document} -> ${target}`);
    }
  }
  expect(missing).toEqual([]);
  expect(packed).toContain('examples/quickstart/main.js');
  // The dashboard ships prebuilt: a user runs no front-end build.
  for (const file of ['index.html', 'app.js', 'style.css']) expect(packed).toContain(`dist/server/dashboard/${file}`);
  expect(packed.filter((file) => file.startsWith('test/') || /\.test\.[jt]s$/.test(file))).toEqual([]);
}, 150_000);
