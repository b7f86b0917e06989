/**
 * Finds the module that called into deflow, from V8's structured stack trace: a StepHandler
 * remembers the file it was defined in, so other processes can import it to find the same
 * handler.
 */
import { realpathSync } from 'node:fs';
import { pathToFileURL, fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';

/** deflow's own source (src/ or dist/): frames in here are not the caller. */
const OWN_ROOT = dirname(dirname(fileURLToPath(import.meta.url)));

export interface CallerSite {
  /** File URL of the calling module. */
  url: string;
  /** `<url>:<line>:<column>`: tells a module evaluated twice from two definitions in one module. */
  site: string;
}

/**
 * The module a StepHandler is defined in: the module whose top-level code is running (so a
 * handler made by a helper in lib/factory.js belongs to the step module that called the
 * helper), else the nearest caller outside deflow.
 */
export function callerSite(): CallerSite | undefined {
  // Restored unchanged below, never called here.
  // eslint-disable-next-line @typescript-eslint/unbound-method
  const original = Error.prepareStackTrace;
  const limit = Error.stackTraceLimit;
  let frames: NodeJS.CallSite[];
  try {
    Error.stackTraceLimit = 100;
    Error.prepareStackTrace = (_error, stack) => stack;
    const holder: { stack?: NodeJS.CallSite[] } = {};
    Error.captureStackTrace(holder, callerSite);
    frames = holder.stack ?? [];
  } finally {
    Error.prepareStackTrace = original;
    Error.stackTraceLimit = limit;
  }
  let nearest: CallerSite | undefined;
  for (const [i, frame] of frames.entries()) {
    const url = userFileUrl(frame);
    if (url === undefined) continue;
    const site = { url, site: `${url}:${frame.getLineNumber() ?? 0}:${frame.getColumnNumber() ?? 0}` };
    nearest ??= site;
    const next = frames[i + 1];
    // Module top level: called by Node's module loader (ESM or CommonJS), or, after a
    // top-level await, the last frame of the stack with no function around it.
    const topLevel =
      next === undefined
        ? !frame.getFunctionName() && !url.includes('/node_modules/')
        : (next.getFileName() ?? '').startsWith('node:internal/modules/');
    if (topLevel) return site;
  }
  return nearest;
}

/** A frame's file as a URL, unless it is Node's or deflow's own. */
function userFileUrl(frame: NodeJS.CallSite): string | undefined {
  const file = frame.getFileName();
  if (file === undefined || file === null || file.startsWith('node:')) return undefined;
  const url = file.startsWith('file://') ? file : file.startsWith('/') ? pathToFileURL(file).href : undefined;
  if (url === undefined) return undefined;
  return fileURLToPath(url).startsWith(OWN_ROOT + '/') ? undefined : url;
}

let entryUrl: string | null | undefined;

/**
 * The script node was started with (`node main.js`), as a file URL. Other processes must not
 * import it to find a handler: that would run the whole program again.
 */
export function entryModuleUrl(): string | null {
  if (entryUrl !== undefined) return entryUrl;
  const script = process.argv[1];
  entryUrl = null;
  if (script !== undefined && script.length > 0) {
    try {
      entryUrl = pathToFileURL(realpathSync(resolve(script))).href;
    } catch {
      entryUrl = null;
    }
  }
  return entryUrl;
}

/** The same file, whatever symlinks led to it. */
export function realModuleUrl(url: string): string {
  try {
    return pathToFileURL(realpathSync(fileURLToPath(url))).href;
  } catch {
    return url;
  }
}

/** "string-to-number" from ".../steps/string-to-number.ts". */
export function moduleBaseName(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  const file = url.split('/').pop() ?? '';
  const base = file.replace(/\.(m|c)?(t|j)sx?$/, '');
  return base.length > 0 ? base : undefined;
}
