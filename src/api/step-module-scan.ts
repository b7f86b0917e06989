/**
 * The step modules under a set of directories, as `deflow worker --steps` imports them at start.
 * Each entry is judged on its real path by the same rule a node applies to a stored step
 * (ModulePolicy): a symlink leading outside the allowed directories, or into a node_modules, is
 * skipped rather than followed; a symlink loop is skipped rather than walked until ELOOP; and a
 * file reached by two paths is listed once.
 */
import { readdirSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import type { Dirent } from 'node:fs';
import { extname, join } from 'node:path';
import { ModulePolicy } from '../engine/module-policy.js';

const MODULE_EXTENSIONS = new Set(['.ts', '.mts', '.js', '.mjs']);

export interface ScannedModule {
  /** The file as the scan reached it (under a --steps directory), for messages. */
  readonly path: string;
  /** The real file to import, as a file URL. */
  readonly url: string;
}

export interface StepModuleScan {
  readonly modules: ScannedModule[];
  /** One line per entry not followed, saying which and why. */
  readonly skipped: string[];
}

/**
 * `dirs`: where to look; `allowedDirs`: where an entry's real path may lie (the node's step
 * directories); `flag`: the option that named `dirs`, for messages (workflow definition
 * directories, `--workflows`, are scanned by the same rules).
 */
export function scanStepModules(dirs: readonly string[], allowedDirs: readonly string[], flag = '--steps'): StepModuleScan {
  const scan = new Scan(new ModulePolicy(allowedDirs), flag);
  for (const dir of dirs) scan.walk(dir, realPath(dir) ?? dir, []);
  return { modules: scan.modules, skipped: scan.skipped };
}

/** Is this file name one the scan imports (tests, type declarations and dot-files are not)? */
function isModuleName(name: string): boolean {
  return MODULE_EXTENSIONS.has(extname(name)) && !name.endsWith('.d.ts') && !/\.(test|spec)\./.test(name);
}

class Scan {
  readonly modules: ScannedModule[] = [];
  readonly skipped: string[] = [];
  private readonly dirsSeen = new Set<string>();
  private readonly filesSeen = new Set<string>();

  constructor(
    private readonly policy: ModulePolicy,
    private readonly flag: string,
  ) {}

  /** `ancestors`: the real directories above `dir` on this walk, to tell a loop. */
  walk(dir: string, real: string, ancestors: readonly string[]): void {
    if (this.dirsSeen.has(real)) return; // reached by another path already
    this.dirsSeen.add(real);
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch (error) {
      throw new Error(`cannot read ${this.flag} directory ${dir}: ${(error as Error).message}`, { cause: error });
    }
    const inside = [...ancestors, real];
    for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
      this.visit(join(dir, entry.name), entry, inside);
    }
  }

  private visit(path: string, entry: Dirent, ancestors: readonly string[]): void {
    const link = entry.isSymbolicLink();
    if (!link && !entry.isDirectory() && !isModuleName(entry.name)) return;
    let real: string;
    try {
      real = realpathSync(path);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (!link) throw error;
      this.skipped.push(
        code === 'ELOOP'
          ? `skipping ${path}: a symlink loop (${path} -> ${linkTarget(path)} never reaches a file)`
          : `skipping ${path}: a symlink to ${linkTarget(path)}, which cannot be resolved (${code ?? (error as Error).message})`,
      );
      return;
    }
    const directory = statSync(real).isDirectory();
    if (!directory && !isModuleName(entry.name)) return;
    if (directory && ancestors.includes(real)) {
      this.skipped.push(`skipping ${path}: a symlink loop (it leads back to ${real}, which contains it)`);
      return;
    }
    const verdict = this.policy.check(real);
    if (!verdict.allowed) {
      this.skipped.push(`skipping ${path}${link ? ` (a symlink to ${real})` : ''}: ${verdict.reason}`);
      return;
    }
    if (directory) this.walk(path, real, ancestors);
    else if (!this.filesSeen.has(real)) {
      this.filesSeen.add(real);
      this.modules.push({ path, url: verdict.url });
    }
  }
}

function realPath(path: string): string | undefined {
  try {
    return realpathSync(path);
  } catch {
    return undefined;
  }
}

function linkTarget(path: string): string {
  try {
    return readlinkSync(path);
  } catch {
    return '?';
  }
}
