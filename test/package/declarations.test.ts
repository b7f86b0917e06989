/**
 * The built type declarations as an installed package gives them to a strict TypeScript user
 * (`skipLibCheck: false`): they must compile with only the package, its dependencies and
 * @types/node in node_modules, not deflow's devDependencies (@types/pg, @types/debug, …), which
 * an install does not bring. Uses the built dist/ (npm test builds first).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, expect, test } from 'vitest';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TSC = path.join(ROOT, 'node_modules/typescript/bin/tsc');

const USER_CODE = `
import DeFlow, { StepHandler, WorkFlow } from 'deflow';
import type { RegisterOptions, WorkflowResult } from 'deflow';
import { createFarm } from 'deflow/pool';
import { WorkestratorFarm } from 'deflow/workestrator';
import { createServer, deflowServer, defineRoute } from 'deflow/server';
import type { DeflowServerOptions } from 'deflow/server';

const options: RegisterOptions = { backend: 'postgres://app@db/app', schema: 'billing' };
const double = new StepHandler<unknown, { n: number }, number>({ name: 'double', handler: (task) => task.data.n * 2 });
export async function main(): Promise<WorkflowResult | null> {
  DeFlow.register(options);
  const flow = await WorkFlow.create('demo').addStep({ step: double, tasks: [{ n: 1 }] }).run();
  return flow.done();
}
export const kinds: unknown[] = [createFarm, WorkestratorFarm];
const serverOptions: DeflowServerOptions = { tokens: ['a-token-of-sixteen+'], bodyLimit: 1024 };
export async function serve(): Promise<void> {
  const app = await createServer(serverOptions);
  await app.listen({ port: 0 });
  await app.close();
}
export const server: unknown[] = [deflowServer, defineRoute({ method: 'GET', url: '/x', summary: 'x', schema: {}, handler: () => Promise.resolve(1) })];
`;

let project: string | undefined;
afterAll(() => {
  if (project !== undefined) fs.rmSync(project, { recursive: true, force: true });
});

test('the public declarations compile under strict, skipLibCheck false, without devDependencies', async () => {
  project = fs.mkdtempSync(path.join(os.tmpdir(), 'deflow-types-'));
  const modules = path.join(project, 'node_modules');
  const installed = path.join(modules, 'deflow');
  fs.mkdirSync(installed, { recursive: true });
  // A copy, not a link: from a link TypeScript would find the repository's node_modules/@types.
  fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(installed, 'package.json'));
  fs.cpSync(path.join(ROOT, 'dist'), path.join(installed, 'dist'), { recursive: true, filter: (file) => !/\.(js|map)$/.test(file) });
  const { dependencies } = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  for (const name of [...Object.keys(dependencies), '@types/node']) {
    const target = path.join(modules, name);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.symlinkSync(path.join(ROOT, 'node_modules', name), target, 'dir');
  }
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'a-user', private: true, type: 'module' }));
  fs.writeFileSync(path.join(project, 'main.ts'), USER_CODE);
  const compilerOptions = { strict: true, skipLibCheck: false, noEmit: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', types: ['node'] };
  fs.writeFileSync(path.join(project, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['main.ts'] }));
  const result = await run(process.execPath, [TSC, '-p', project], { cwd: project, timeout: 120_000 }).then(
    () => '',
    (error: Error & { stdout?: string }) => error.stdout ?? error.message,
  );
  expect(result).toBe('');
}, 150_000);
