/**
 * Finds the module that called into deflow, from V8's structured stack trace: a StepHandler
 * remembers the file it was defined in, so other processes can import it to find the same
 * handler.
 */
import { pathToFileURL, fileURLToPath } from 'node:url';
import { dirname } from 'node:path';

/** deflow's own source (src/ or dist/): frames in here are not the caller. */
const OWN_ROOT = dirname(dirname(fileURLToPath(import.meta.url)));

export function callerModuleUrl(): string | undefined {
  // Restored unchanged below, never called here.
  // eslint-disable-next-line @typescript-eslint/unbound-method
  const original = Error.prepareStackTrace;
  const limit = Error.stackTraceLimit;
  let frames: NodeJS.CallSite[];
  try {
    Error.stackTraceLimit = 30;
    Error.prepareStackTrace = (_error, stack) => stack;
    const holder: { stack?: NodeJS.CallSite[] } = {};
    Error.captureStackTrace(holder, callerModuleUrl);
    frames = holder.stack ?? [];
  } finally {
    Error.prepareStackTrace = original;
    Error.stackTraceLimit = limit;
  }
  for (const frame of frames) {
    const file = frame.getFileName();
    if (file === undefined || file === null || file.startsWith('node:')) continue;
    const url = file.startsWith('file://') ? file : file.startsWith('/') ? pathToFileURL(file).href : undefined;
    if (url === undefined) continue;
    const path = fileURLToPath(url);
    if (path.startsWith(OWN_ROOT + '/')) continue;
    return url;
  }
  return undefined;
}

/** "string-to-number" from ".../steps/string-to-number.ts". */
export function moduleBaseName(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  const file = url.split('/').pop() ?? '';
  const base = file.replace(/\.(m|c)?(t|j)sx?$/, '');
  return base.length > 0 ? base : undefined;
}
