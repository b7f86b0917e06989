/**
 * `--workflows <dir>` (deflow worker, deflow start): imports every workflow definition module
 * under the directories, by the rules step modules are found by (step-module-scan.ts). A module's
 * default export must be a definition (defineWorkflow); one without a default export may export
 * definitions by name, and one exporting none (a helper) is said and not counted.
 */
import { resolve } from 'node:path';
import { ValidationError } from '../index.js';
import { isWorkflowDefinition } from '../api/definition-registry.js';
import { scanStepModules } from '../api/step-module-scan.js';
import { exported, importScanned } from './module-import.js';

/** Names of the definitions loaded. `allowedDirs`: where modules may lie (the command's step directories). */
export async function loadWorkflowModules(dirs: readonly string[], allowedDirs: readonly string[], command: string): Promise<string[]> {
  const scan = scanStepModules(dirs.map((dir) => resolve(dir)), allowedDirs, '--workflows');
  for (const line of scan.skipped) process.stderr.write(`deflow ${command}: ${line}\n`);
  if (scan.modules.length === 0) throw new ValidationError(`no workflow modules (.ts, .mts, .js, .mjs) found in ${dirs.join(', ')}`);
  const names: string[] = [];
  for (const module of scan.modules) {
    const exports = await importScanned(module, 'workflow module', command, '--workflows');
    if ('default' in exports && exports.default !== undefined) {
      if (!isWorkflowDefinition(exports.default)) {
        throw new ValidationError(
          `workflow module ${module.path} default-exports ${exported(exports.default)}, not a workflow definition; ` +
            'write "export default defineWorkflow(name, (input) => WorkFlow.create(name)...)" in it, or move it out of --workflows',
        );
      }
      names.push(exports.default.name);
      continue;
    }
    const found = Object.values(exports).filter(isWorkflowDefinition);
    if (found.length === 0) process.stderr.write(`deflow ${command}: ${module.path} exports no workflow definition; it is not counted\n`);
    names.push(...found.map((definition) => definition.name));
  }
  return names;
}
