/**
 * `deflow serve --triggers <file>`: a module whose default export (or export `triggers`) is a
 * function given the server, that registers its triggers:
 *
 *   export default (server) => server.trigger('github', [githubWebhook({ secret, on: { push: 'deploy' } })]);
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ValidationError } from '../index.js';
import type { DeflowApp } from '../server/create-server.js';
import { exported, importScanned } from './module-import.js';

export async function loadTriggerModules(files: readonly string[], server: DeflowApp): Promise<void> {
  for (const given of files) {
    const path = resolve(given);
    if (!existsSync(path)) throw new ValidationError(`--triggers ${given}: no such file`);
    const namespace = await importScanned({ path, url: pathToFileURL(path).href }, 'triggers module', 'serve', '--triggers');
    const register = typeof namespace.default === 'function' ? namespace.default : namespace.triggers;
    if (typeof register !== 'function') {
      throw new ValidationError(`--triggers ${given}: the module must export a function (server) => void as default or as "triggers", got ${exported(register ?? namespace.default)}`);
    }
    await (register as (server: DeflowApp) => unknown)(server);
  }
}
