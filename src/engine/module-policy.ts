/**
 * Which step modules a node may import. A step record names the module its handler lives in,
 * and anyone who can write the backend can write that name: importing it as given would run
 * their code on every node. So a node imports only a local file (a `file:` URL or an absolute
 * path) that lies, once symlinks and `..` are resolved, inside one of its step directories
 * (`DeFlow.register({ stepDirs })`; by default the working directory). Any other scheme
 * (`data:`, `http:`, `node:`...) and any bare or relative specifier is refused everywhere:
 * `addStep` throws for it, and a node that finds one in the store fails the step. A file under a
 * `node_modules` directory inside a step directory is refused too: a dependency is never a step
 * module (a step module imports it), and a package's files run code when imported.
 */
import { realpathSync } from 'node:fs';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { redactUrl } from '../backends/redact-url.js';

/** Longest specifier quoted in a message (a `data:` URL can carry a whole program). */
const MAX_QUOTED = 120;

const SCHEME = /^([a-zA-Z][a-zA-Z0-9+.-]*):/;

export type ModuleVerdict =
  /** `url`: the file to import (the real path the check was made on, as a file URL). */
  | { allowed: true; url: string }
  | { allowed: false; reason: string };

/**
 * Why `specifier` can never name a step module on any node (a scheme other than `file:`, a
 * bare or relative specifier), or undefined when it names a local file.
 */
export function specifierRefusal(specifier: string): string | undefined {
  const scheme = SCHEME.exec(specifier)?.[1]?.toLowerCase();
  if (scheme === 'file') {
    try {
      fileURLToPath(specifier);
      return undefined;
    } catch (error) {
      return `is not a usable file URL (${(error as Error).message})`;
    }
  }
  if (scheme !== undefined) return `uses the "${scheme}:" scheme; only local files (file: URLs or absolute paths) are imported as step modules`;
  if (!isAbsolute(specifier)) return 'is neither a file: URL nor an absolute path';
  return undefined;
}

/** A specifier as messages quote it: without a password, and cut when long. */
export function quoteSpecifier(specifier: string): string {
  const shown = SCHEME.test(specifier) ? redactUrl(specifier) : specifier;
  if (shown.length <= MAX_QUOTED) return JSON.stringify(shown);
  return `${JSON.stringify(shown.slice(0, MAX_QUOTED))}... (${shown.length} characters)`;
}

export class ModulePolicy {
  /** The step directories, as given (resolved against the working directory). */
  readonly dirs: readonly string[];

  /** `dirs`: where step modules may be; empty means the working directory. */
  constructor(dirs: readonly string[] = []) {
    this.dirs = (dirs.length > 0 ? dirs : [process.cwd()]).map((dir) => resolve(dir));
  }

  /** May this node import `specifier`? When it may, `url` is what to import. */
  check(specifier: string): ModuleVerdict {
    const refusal = specifierRefusal(specifier);
    if (refusal !== undefined) {
      return { allowed: false, reason: `the module ${quoteSpecifier(specifier)} ${refusal} (this node's step directories: ${this.dirs.join(', ')})` };
    }
    const given = SCHEME.test(specifier) ? fileURLToPath(specifier) : resolve(specifier);
    // Judged on the real file: a symlink inside a step directory may point anywhere. A file that
    // does not exist is judged by its path: its import fails and says so.
    const path = realPath(given) ?? given;
    const roots = this.dirs.map((dir) => realPath(dir) ?? dir);
    // The deepest directory holding it: a directory given inside a node_modules is allowed as given.
    const root = roots
      .filter((candidate) => path === candidate || path.startsWith(candidate.endsWith(sep) ? candidate : candidate + sep))
      .sort((a, b) => b.length - a.length)[0];
    if (root === undefined) {
      return {
        allowed: false,
        reason:
          `the module ${quoteSpecifier(specifier)} is outside the step directories this node may import from ` +
          `(${this.dirs.join(', ')}); add its directory to DeFlow.register({ stepDirs }) or deflow worker --steps / --allow`,
      };
    }
    if (relative(root, path).split(sep).includes('node_modules')) {
      return {
        allowed: false,
        reason:
          `the module ${quoteSpecifier(specifier)} is inside a node_modules directory of a step directory ` +
          `(${this.dirs.join(', ')}); a dependency is never a step module: name the step module that imports it`,
      };
    }
    return { allowed: true, url: pathToFileURL(path).href };
  }
}

function realPath(path: string): string | undefined {
  try {
    return realpathSync(path);
  } catch {
    return undefined;
  }
}
