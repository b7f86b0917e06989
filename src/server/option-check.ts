/**
 * The plugin's own options, checked before anything is built: a duration longer than a timer
 * can hold would make Node fire it after 1 ms (a heartbeat of 3e9 ms would write to every
 * stream client in a busy loop), so each is held to what a timer can wait, as DeFlow's are.
 */
import { checkObject, duration, integer } from '../option-checks.js';

const WHERE = 'deflow server options';

/** The timing and size options of `deflowServer` / `createServer`; throws a ValidationError naming the bad one. */
export function checkServerOptions(options: { bodyLimit?: unknown; stream?: unknown; counts?: unknown }): void {
  if (options.bodyLimit !== undefined) integer(options.bodyLimit, `${WHERE}.bodyLimit`, 1, ' (bytes)');
  const stream = checkObject(options.stream, `${WHERE}.stream`);
  for (const key of ['heartbeatMs', 'pollMs', 'flushMs'] as const) {
    if (stream[key] !== undefined) duration(stream[key], `${WHERE}.stream.${key}`, 1);
  }
  const counts = checkObject(options.counts, `${WHERE}.counts`);
  if (counts.maxAgeMs !== undefined) duration(counts.maxAgeMs, `${WHERE}.counts.maxAgeMs`, 0);
}
