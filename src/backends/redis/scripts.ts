/**
 * The Lua scripts, kept as `.lua` files next to this module (copied to dist by the build):
 *   lua/workflow/*.lua  scripts on the keys of one workflow (one hash tag)
 *   lua/global/*.lua    scripts on the per-prefix indexes (the prefix's hash tag)
 *   lua/lib/*.lua       shared code, named by `--- @include <name>` lines
 * Each script's header documents its KEYS and ARGV. User data only ever travels in ARGV.
 *
 * Two ways to run them, same sources:
 * - Redis >= 7: one Functions library (FUNCTION LOAD, then FCALL). The shared code is
 *   defined once per server instead of on every call, which is most of a small script's
 *   cost (re-creating ~80 closures costs ~50 µs per EVAL). The library is named by a hash of
 *   its code, so different deflow versions can share a server; a server that lost it (flushed,
 *   restarted without persistence) gets it again on the next call.
 * - Older servers, or DEFLOW_REDIS_SCRIPTS=eval: each script is sent with its includes as an
 *   EVAL script (ioredis sends EVAL once per connection, then EVALSHA).
 */
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { Cluster, Command } from 'ioredis';
import type { Pipeline } from 'ioredis';
import type { RedisClient } from './connection.js';
import { WORKFLOW_KEY_NAMES, hashTag } from './keys.js';

const LUA_DIR = new URL('./lua/', import.meta.url);
/** Replies as strings, like ioredis's own command methods (a bare Command answers Buffers). */
const UTF8 = { replyEncoding: 'utf8' } as const;
const INCLUDE = /^--- @include ([a-z-]+)\s*$/gm;
/** Libraries in dependency order (the Functions library holds all of them once). */
const LIB_ORDER = ['number', 'queue-hints', 'core', 'machine', 'insert', 'apply', 'claim', 'release'] as const;

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
  'queue-counts',
  'retry',
  'control',
  'receive',
  'expire-waits',
  'publish',
] as const;

/** Global scripts and how many KEYS each takes. */
export const GLOBAL_SCRIPTS = {
  'index-workflow': 6,
  'unindex-workflow': 10,
  'drop-duplicate': 6,
  finished: 5,
  reopen: 2,
  hint: 3,
  'drop-hint': 3,
  'workflow-queues': 1,
  hints: 1,
  'register-node': 3,
  heartbeat: 2,
  'unregister-node': 2,
  'expire-nodes': 3,
  sweep: 1,
  'rate-take': 3,
  'rate-refund': 2,
  'schedule-save': 2,
  'schedule-claim': 1,
} as const;

export type WorkflowScript = (typeof WORKFLOW_SCRIPTS)[number];
export type GlobalScript = keyof typeof GLOBAL_SCRIPTS;
export type ScriptName = WorkflowScript | GlobalScript;
export type ScriptArg = string | number;
export type ScriptMode = 'functions' | 'eval';

/** A Redis reply as ioredis decodes it. */
export type Reply = string | number | null | Reply[];

interface ScriptFile {
  name: ScriptName;
  includes: string[];
  /** The file without its include lines. */
  body: string;
}

interface Sources {
  files: ScriptFile[];
  lib: Map<string, string>;
}

let cached: Sources | null = null;

function sources(): Sources {
  if (cached !== null) return cached;
  const lib = new Map<string, string>();
  for (const file of readdirSync(new URL('lib/', LUA_DIR))) {
    if (file.endsWith('.lua')) lib.set(file.slice(0, -4), readFileSync(new URL(`lib/${file}`, LUA_DIR), 'utf8'));
  }
  const read = (name: ScriptName, dir: string): ScriptFile => {
    const text = readFileSync(new URL(`${dir}/${name}.lua`, LUA_DIR), 'utf8');
    const includes = [...text.matchAll(INCLUDE)].map((match) => match[1] ?? '');
    for (const include of includes) {
      if (!lib.has(include)) throw new Error(`Lua script ${name} includes unknown lib "${include}"`);
    }
    return { name, includes, body: text.replace(INCLUDE, '') };
  };
  const files = [
    ...WORKFLOW_SCRIPTS.map((name) => read(name, 'workflow')),
    ...(Object.keys(GLOBAL_SCRIPTS) as GlobalScript[]).map((name) => read(name, 'global')),
  ];
  cached = { files, lib };
  return cached;
}

/**
 * A script's body as the code of one call: workflow scripts start with begin_call (clock,
 * state; whether the script runs the step machine) and end with flush_steps (step attributes
 * written back); the others only take their keys and arguments.
 */
function callCode(file: ScriptFile, keys: string, args: string): string {
  if (!file.includes.includes('core')) return `set_call(${keys}, ${args})\n${file.body}\n`;
  const machine = file.includes.includes('machine') ? 'true' : 'false';
  return `begin_call(${keys}, ${args}, ${machine})\nlocal function body()\n${file.body}\nend\nlocal result = body()\nflush_steps()\nreturn result\n`;
}

function prologue(mode: ScriptMode): string {
  const declare = mode === 'eval' ? 'local KEYS, ARGV = KEYS, ARGV' : 'local KEYS, ARGV';
  return `${declare}\nlocal function set_call(keys, args)\n  KEYS, ARGV = keys, args\nend\n`;
}

/** Each script as a stand-alone EVAL script, keyed by name. */
export function evalSources(): Map<ScriptName, string> {
  const { files, lib } = sources();
  const out = new Map<ScriptName, string>();
  for (const file of files) {
    const libs = file.includes.map((name) => lib.get(name) ?? '').join('\n');
    out.set(file.name, `${prologue('eval')}${libs}\nlocal function __entry()\n${callCode(file, 'KEYS', 'ARGV')}end\nreturn __entry()\n`);
  }
  return out;
}

/** The Functions library: its name, its code, and the function name of each script. */
export function functionLibrary(): { name: string; code: string; functions: Map<ScriptName, string> } {
  const { files, lib } = sources();
  const libs = LIB_ORDER.map((name) => lib.get(name) ?? '').join('\n');
  const hash = createHash('sha1')
    .update(libs)
    .update(files.map((file) => file.body).join('\n'))
    .digest('hex')
    .slice(0, 12);
  const name = `deflow_${hash}`;
  const functions = new Map<ScriptName, string>();
  const registrations = files.map((file) => {
    const fn = `${name}_${file.name.replace(/-/g, '_')}`;
    functions.set(file.name, fn);
    return `redis.register_function('${fn}', function(keys, args)\n${callCode(file, 'keys', 'args')}end)\n`;
  });
  return { name, code: `#!lua name=${name}\n${prologue('functions')}${libs}\n${registrations.join('\n')}`, functions };
}

/** One entry of a batch: a script, or a plain command. */
export type BatchCall =
  | { script: ScriptName; keys: readonly string[]; args: readonly ScriptArg[] }
  | { command: string; args: readonly ScriptArg[] };

// ioredis flattens array arguments one level (Command does args.flat()), so huge ARGV lists
// travel as one array instead of being spread onto the call stack.
type ScriptFunction = (keys: readonly string[], args: readonly ScriptArg[]) => Promise<Reply>;

export class Scripts {
  private readonly evalFunctions = new Map<ScriptName, ScriptFunction>();
  private readonly library = functionLibrary();
  private loading: Promise<void> | null = null;

  /**
   * @param assertOneSlot check that every call's keys share one hash tag (tests turn it on
   *   with DEFLOW_REDIS_ASSERT_SLOTS=1; Redis Cluster would refuse such a call)
   */
  constructor(
    private readonly client: RedisClient,
    private readonly assertOneSlot: boolean,
    public mode: ScriptMode,
  ) {
    for (const [name, lua] of evalSources()) {
      const command = `deflow_${name.replace(/-/g, '_')}`;
      const numberOfKeys = name in GLOBAL_SCRIPTS ? GLOBAL_SCRIPTS[name as GlobalScript] : WORKFLOW_KEY_NAMES.length;
      client.defineCommand(command, { lua, numberOfKeys });
      const fn = (client as unknown as Record<string, ScriptFunction>)[command];
      if (fn === undefined) throw new Error(`ioredis did not define the script ${command}`);
      this.evalFunctions.set(name, fn.bind(client));
    }
  }

  /** Loads the Functions library (once per server); falls back to EVAL on servers without Functions. */
  async prepare(): Promise<void> {
    if (this.mode !== 'functions') return;
    try {
      await this.load();
    } catch (error) {
      if (/unknown command/i.test((error as Error).message)) this.mode = 'eval';
      else throw error;
    }
  }

  async run(name: ScriptName, keys: readonly string[], args: readonly ScriptArg[]): Promise<Reply> {
    this.checkSlot(name, keys);
    if (this.mode === 'eval') {
      const fn = this.evalFunctions.get(name);
      if (fn === undefined) throw new Error(`unknown Lua script ${name}`);
      return fn(keys, args);
    }
    try {
      return await this.fcall(name, keys, args);
    } catch (error) {
      if (!/function not found/i.test((error as Error).message)) throw error;
      // The server lost the library (flushed, or restarted without persistence).
      await this.load();
      return this.fcall(name, keys, args);
    }
  }

  /**
   * Sends several calls in one write (a pipeline: fewer system calls, one round trip) and
   * settles each on its own: a reply, or the error of that call.
   */
  async batch(calls: readonly BatchCall[]): Promise<(Reply | Error)[]> {
    if (this.client instanceof Cluster && calls.length > 1) return this.clusterBatch(calls);
    return this.pipelined(calls);
  }

  /**
   * A batch on a cluster, where one pipeline may not mix slots. The calls go in phases, in the
   * batch's order: a run of workflow scripts is one phase, sent as one pipeline per workflow,
   * all at once (they touch different workflows, so nothing orders them); a run of calls on
   * the prefix's own tag (and plain commands) is another, one pipeline. A phase starts once the
   * one before it answered, so what a batch writes first (a holdings entry before the claim
   * it covers) is still written first.
   */
  private async clusterBatch(calls: readonly BatchCall[]): Promise<(Reply | Error)[]> {
    const replies: (Reply | Error)[] = [];
    let start = 0;
    while (start < calls.length) {
      const workflow = isWorkflowCall(calls[start]);
      let end = start + 1;
      while (end < calls.length && isWorkflowCall(calls[end]) === workflow) end++;
      const groups = new Map<string, number[]>();
      for (let i = start; i < end; i++) {
        const call = calls[i] as BatchCall;
        const tag = workflow && 'script' in call ? hashTag(call.keys[0] ?? '') : '';
        groups.set(tag, [...(groups.get(tag) ?? []), i]);
      }
      await Promise.all(
        [...groups.values()].map(async (indexes) => {
          const answers = await this.pipelined(indexes.map((i) => calls[i] as BatchCall)).catch((error: unknown) => indexes.map(() => toError(error)));
          indexes.forEach((i, k) => (replies[i] = answers[k] ?? new Error('no reply')));
        }),
      );
      start = end;
    }
    return replies;
  }

  /** The calls as one pipeline (one server, or one slot of a cluster); EVAL scripts one by one, in order. */
  private async pipelined(calls: readonly BatchCall[]): Promise<(Reply | Error)[]> {
    // On a cluster a PUBLISH goes on its own to one node (commandTarget), not in a pipeline.
    if (calls.length === 1 || this.mode === 'eval' || (this.client instanceof Cluster && calls.some((call) => !('script' in call)))) {
      const settled = await Promise.allSettled(calls.map((call) => this.one(call)));
      return settled.map((entry) => (entry.status === 'fulfilled' ? entry.value : toError(entry.reason)));
    }
    // ioredis types pipeline() as a chainable commander; it is a Pipeline, which takes Commands.
    const pipeline = this.client.pipeline() as unknown as Pipeline;
    for (const call of calls) {
      if ('script' in call) {
        this.checkSlot(call.script, call.keys);
        pipeline.sendCommand(this.fcallCommand(call.script, call.keys, call.args));
      } else {
        pipeline.sendCommand(new Command(call.command, call.args as ScriptArg[], UTF8));
      }
    }
    const results = (await pipeline.exec()) ?? [];
    return Promise.all(
      calls.map(async (call, i) => {
        const [error, reply] = results[i] ?? [new Error('no reply'), null];
        if (error === null) return reply as Reply;
        if ('script' in call && /function not found/i.test(error.message)) {
          return this.run(call.script, call.keys, call.args).catch(toError);
        }
        return error;
      }),
    );
  }

  private one(call: BatchCall): Promise<Reply> {
    if ('script' in call) return this.run(call.script, call.keys, call.args);
    return this.commandTarget(call.command).sendCommand(new Command(call.command, call.args as ScriptArg[], UTF8)) as Promise<Reply>;
  }

  /**
   * Where a plain command goes. A cluster sends a command without keys (PUBLISH) to any node,
   * and messages published through different nodes reach a subscriber in any order: every
   * PUBLISH goes through one node (the first master by address), so events keep their order.
   */
  private commandTarget(command: string): RedisClient {
    if (!(this.client instanceof Cluster) || command.toLowerCase() !== 'publish') return this.client;
    const masters = this.client.nodes('master');
    const address = (node: (typeof masters)[number]): string => `${node.options.host ?? ''}:${node.options.port ?? 0}`;
    return [...masters].sort((a, b) => address(a).localeCompare(address(b)))[0] ?? this.client;
  }

  private checkSlot(name: ScriptName, keys: readonly string[]): void {
    if (!this.assertOneSlot) return;
    const tag = hashTag(keys[0] ?? '');
    for (const key of keys) {
      if (hashTag(key) !== tag) throw new Error(`script ${name} would touch two cluster slots: ${keys[0]} and ${key}`);
    }
  }

  private fcallCommand(name: ScriptName, keys: readonly string[], args: readonly ScriptArg[]): Command {
    const fn = this.library.functions.get(name);
    if (fn === undefined) throw new Error(`unknown Lua script ${name}`);
    return new Command('fcall', [fn, keys.length, keys as string[], args as ScriptArg[]], UTF8);
  }

  private fcall(name: ScriptName, keys: readonly string[], args: readonly ScriptArg[]): Promise<Reply> {
    return this.client.sendCommand(this.fcallCommand(name, keys, args)) as Promise<Reply>;
  }

  /**
   * Loads the library into the server, or into every master of a cluster (FCALL runs on the
   * master of its keys' slot; a replica gets it from its master, and a master promoted or added
   * later without it answers "function not found", which loads it again everywhere).
   */
  private load(): Promise<void> {
    const servers = this.client instanceof Cluster ? this.client.nodes('master') : [this.client];
    this.loading ??= Promise.all(
      servers.map((server) =>
        server.call('FUNCTION', 'LOAD', this.library.code).then(
          () => undefined,
          (error: unknown) => {
            if (!/already exists/i.test((error as Error).message)) throw error;
          },
        ),
      ),
    )
      .then(() => undefined)
      .finally(() => {
        this.loading = null;
      });
    return this.loading;
  }
}

function toError(reason: unknown): Error {
  return reason instanceof Error ? reason : new Error(String(reason));
}

/** A workflow script (its keys are one workflow's tag); anything else is on the prefix's tag or keyless. */
function isWorkflowCall(call: BatchCall | undefined): boolean {
  return call !== undefined && 'script' in call && !(call.script in GLOBAL_SCRIPTS);
}
