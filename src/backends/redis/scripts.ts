/**
 * The Lua scripts, kept as `.lua` files next to this module (copied to dist by the build):
 *   lua/workflow/*.lua  scripts on the keys of one workflow (one hash tag)
 *   lua/global/*.lua    scripts on the per-prefix indexes (the prefix's hash tag)
 *   lua/lib/*.lua       shared code, pulled in with a `--- @include <name>` line
 * Each script's header documents its KEYS and ARGV. User data only ever travels in ARGV.
 * ioredis sends EVAL the first time per connection and EVALSHA afterwards, so a Redis that
 * restarted (and lost its script cache) is handled.
 */
import { readFileSync, readdirSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { hashTag } from './keys.js';

const LUA_DIR = new URL('./lua/', import.meta.url);
const INCLUDE = /^--- @include ([a-z-]+)\s*$/gm;

export const WORKFLOW_SCRIPTS = [
  'create',
  'add-steps',
  'add-tasks',
  'watch',
  'claim',
  'complete',
  'release',
  'reconcile',
  'recover',
  'check',
  'read-tasks',
  'read-step',
] as const;

/** Global scripts and how many KEYS each takes. */
export const GLOBAL_SCRIPTS = {
  'index-workflow': 4,
  'unindex-workflow': 7,
  finished: 4,
  hint: 2,
  'drop-hint': 2,
  hints: 1,
  'register-node': 3,
  heartbeat: 2,
  'unregister-node': 2,
  'expire-nodes': 3,
  sweep: 1,
} as const;

export type WorkflowScript = (typeof WORKFLOW_SCRIPTS)[number];
export type GlobalScript = keyof typeof GLOBAL_SCRIPTS;
export type ScriptName = WorkflowScript | GlobalScript;
export type ScriptArg = string | number;

/** A Redis reply as ioredis decodes it. */
export type Reply = string | number | null | Reply[];

// ioredis flattens array arguments one level (Command does args.flat()), so huge ARGV lists
// travel as one array instead of being spread onto the call stack.
type ScriptFunction = (keys: readonly string[], args: readonly ScriptArg[]) => Promise<Reply>;

let cachedSources: Map<string, string> | null = null;

/** Every script's source with its includes resolved, keyed by name. */
export function scriptSources(): Map<string, string> {
  if (cachedSources !== null) return cachedSources;
  const lib = new Map<string, string>();
  for (const file of readdirSync(new URL('lib/', LUA_DIR))) {
    if (file.endsWith('.lua')) lib.set(file.slice(0, -4), readFileSync(new URL(`lib/${file}`, LUA_DIR), 'utf8'));
  }
  const resolve = (source: string, name: string): string =>
    source.replace(INCLUDE, (_line, include: string) => {
      const body = lib.get(include);
      if (body === undefined) throw new Error(`Lua script ${name} includes unknown lib "${include}"`);
      return body;
    });
  const sources = new Map<string, string>();
  for (const name of WORKFLOW_SCRIPTS) {
    sources.set(name, resolve(readFileSync(new URL(`workflow/${name}.lua`, LUA_DIR), 'utf8'), name));
  }
  for (const name of Object.keys(GLOBAL_SCRIPTS)) {
    sources.set(name, resolve(readFileSync(new URL(`global/${name}.lua`, LUA_DIR), 'utf8'), name));
  }
  cachedSources = sources;
  return sources;
}

export class Scripts {
  private readonly functions = new Map<ScriptName, ScriptFunction>();

  /**
   * @param assertOneSlot check that every call's keys share one hash tag (tests turn it on
   *   with DEFLOW_REDIS_ASSERT_SLOTS=1; Redis Cluster would refuse such a call)
   */
  constructor(
    client: Redis,
    private readonly assertOneSlot: boolean,
  ) {
    for (const [name, lua] of scriptSources()) {
      const command = `deflow_${name.replace(/-/g, '_')}`;
      const numberOfKeys = name in GLOBAL_SCRIPTS ? GLOBAL_SCRIPTS[name as GlobalScript] : 12;
      client.defineCommand(command, { lua, numberOfKeys });
      const fn = (client as unknown as Record<string, ScriptFunction>)[command];
      if (fn === undefined) throw new Error(`ioredis did not define the script ${command}`);
      this.functions.set(name as ScriptName, fn.bind(client));
    }
  }

  run(name: ScriptName, keys: readonly string[], args: readonly ScriptArg[]): Promise<Reply> {
    const fn = this.functions.get(name);
    if (fn === undefined) throw new Error(`unknown Lua script ${name}`);
    if (this.assertOneSlot) {
      const tag = hashTag(keys[0] ?? '');
      for (const key of keys) {
        if (hashTag(key) !== tag) throw new Error(`script ${name} would touch two cluster slots: ${keys[0]} and ${key}`);
      }
    }
    return fn(keys, args);
  }
}
