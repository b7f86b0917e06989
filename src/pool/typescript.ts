/**
 * TypeScript support for worker modules and serializers, through tsx (a dependency of deflow).
 *
 * When the pool itself runs from source (tests under Vitest, `node --import tsx`), the worker
 * entry is `worker-main.ts`, and a user module or serializer may be `.ts` too. Child processes
 * then get tsx through `--import`; worker threads on Node 20 ignore `--import`, so they start
 * from a bootstrap that registers tsx's ESM hooks (see channel.ts). The farm's own process
 * imports a `.ts` serializer through tsx's scoped `tsImport`, so a plain JavaScript parent works.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import type { ResolvedFarmOptions } from './options.js';

const SELF_URL = import.meta.url;
export const FROM_SOURCE = SELF_URL.endsWith('.ts');
const TS_FILE = /\.[cm]?tsx?$/;

/** True when the worker must load TypeScript: our own entry, the module or the serializer. */
export function needsTypeScript(options: Pick<ResolvedFarmOptions, 'moduleUrl' | 'serializer'>): boolean {
  return FROM_SOURCE || isTsUrl(options.moduleUrl) || (options.serializer.startsWith('file:') && isTsUrl(options.serializer));
}

export function isTsUrl(url: string): boolean {
  try {
    return TS_FILE.test(new URL(url).pathname);
  } catch {
    return false;
  }
}

/** tsx already loaded by the user's execArgv (`--import tsx`, the tsx CLI's own loader...). */
export function hasTsx(execArgv: readonly string[]): boolean {
  return execArgv.some((arg, i) => {
    const value = /^--(import|loader|experimental-loader)=(.*)$/.exec(arg)?.[2] ?? (/^--(import|loader|experimental-loader)$/.test(arg) ? execArgv[i + 1] : undefined);
    return value !== undefined && /(^|[/\\])tsx([/\\]|$)/.test(value);
  });
}

const requireHere = createRequire(SELF_URL);

export function tsxLoaderUrl(): string {
  return pathToFileURL(requireHere.resolve('tsx')).href;
}

/** The ESM build of `tsx/esm/api`: its CommonJS build registers hooks from a wrong relative path. */
export function tsxEsmApiUrl(): string {
  return pathToFileURL(requireHere.resolve('tsx/esm/api').replace(/\.cjs$/, '.mjs')).href;
}

/** Imports a module into the farm's own process; `.ts` through tsx, whatever loaders this process has. */
export async function importInFarm(url: string): Promise<Record<string, unknown>> {
  if (!isTsUrl(url)) return (await import(url)) as Record<string, unknown>;
  const tsx = (await import(tsxEsmApiUrl())) as { tsImport: (specifier: string, parentURL: string) => Promise<unknown> };
  return (await tsx.tsImport(url, SELF_URL)) as Record<string, unknown>;
}
