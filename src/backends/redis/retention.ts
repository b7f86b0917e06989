/**
 * Retention: removing a workflow at once (removeWorkflow, ifExist: 'replace'), the sweep of
 * finished workflows whose keep time ran out (their keys expire by TTL; this removes what is
 * left and their index entries), and removal from the per-prefix indexes.
 */
import type { RedisCore } from './core.js';
import { list, text } from './records.js';

const STAMP_DIGITS = 15;

/** A createdAt as the listing indexes spell it. */
export function stamp(ms: number): string {
  return String(ms).padStart(STAMP_DIGITS, '0');
}

export class Retention {
  constructor(private readonly core: RedisCore) {}

  async removeWorkflow(workflowId: string): Promise<boolean> {
    // UNLINK: a million-task workflow's hashes are freed off Redis's main thread (DEL blocked it ~350 ms per 100k tasks).
    const removed = await this.core.guard(this.core.client.unlink(...this.core.keys.workflow(workflowId)), 'removing a workflow');
    await this.core.guard(this.unindexNow(workflowId, ''), 'removing a workflow');
    this.core.nodes.workflowGone(workflowId);
    this.core.hints.forget(workflowId);
    return removed > 0;
  }

  async sweep(limit: number): Promise<number> {
    const core = this.core;
    const g = core.keys.global;
    const ids = list(await core.guard(core.scripts.run('sweep', [g.expiry], [limit]), 'retention')).map(text);
    for (const id of ids) {
      // Normally already gone by TTL; removed here too in case expiry lags.
      await core.guard(core.client.unlink(...core.keys.workflow(id)), 'retention');
      await core.guard(this.unindexNow(id, ''), 'retention');
      core.nodes.workflowGone(id);
    }
    return ids.length;
  }

  /**
   * Removes a workflow's entries from the per-prefix indexes ('' createdAt: the indexed one;
   * `name` and `key`: those of the entry when the caller knows them, '' = as indexed).
   */
  unindexNow(workflowId: string, createdAt: string, name = '', key = ''): Promise<unknown> {
    const g = this.core.keys.global;
    return this.core.scripts.run(
      'unindex-workflow',
      [g.active, g.bytime, g.byname, g.wmeta, g.runnable, g.hintv, g.expiry, g.bykey, g.wkey, g.wqueues],
      [workflowId, createdAt, name, key],
    );
  }
}
