/**
 * Opening the store only to look at it (deflow ls / show): no node joins, nothing is created,
 * migrated or written, and a store that is missing is refused (the backend says why). A
 * backend that is down fails at once: a look is not worth waiting for.
 */
import type { Backend } from '../backends/backend.js';
import { redactError, secretsOf } from '../backends/redact-url.js';
import { chooseBackend, ignoredOptions } from '../backends/registry.js';
import { backendInput, checkRegisterOptions } from './options.js';
import type { RegisterOptions } from './options.js';

/** The opened backend, read-only; the caller closes it. */
export async function openStoreToLook(options: RegisterOptions): Promise<Backend> {
  const resolved = checkRegisterOptions(options);
  const input = backendInput(resolved);
  const chosen = chooseBackend(input);
  for (const warning of ignoredOptions(input, chosen)) {
    process.emitWarning(warning, { type: 'DeflowWarning', code: 'DEFLOW_IGNORED_OPTION' });
  }
  const backend = await chosen.create({ readOnly: true });
  try {
    await backend.open();
    return backend;
  } catch (error) {
    await backend.close().catch(() => undefined);
    throw redactError(error, secretsOf(resolved.backend, resolved.connection?.password));
  }
}
