/**
 * Problems a backend meets on its own (a malformed event message, a corrupt stored record)
 * and hands to the node's problem reporting (`Backend.onProblem`). Each kind is reported once
 * per backend: a record read at every poll, or a stranger publishing the same junk in a loop,
 * would otherwise fill the log.
 */
import createDebug from 'debug';

const debug = createDebug('deflow:backend:problems');

/** Distinct kinds remembered; past it the memory starts over (reports may then repeat). */
const MAX_KINDS = 1_000;

export type ProblemListener = (error: Error, during: string) => void;

export class ProblemLog {
  private readonly listeners = new Set<ProblemListener>();
  private readonly reported = new Set<string>();

  /** Reports `error` unless a problem of this `kind` was reported already. */
  report(kind: string, during: string, error: Error): void {
    debug('%s: %s', during, error.message);
    if (this.reported.has(kind)) return;
    if (this.reported.size >= MAX_KINDS) this.reported.clear();
    this.reported.add(kind);
    for (const listener of [...this.listeners]) {
      try {
        listener(error, during);
      } catch (thrown) {
        debug('problem listener threw: %O', thrown);
      }
    }
  }

  listen(listener: ProblemListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }
}
