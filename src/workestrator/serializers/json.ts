/**
 * Workestrator's JSON serializer: booleans, finite numbers, strings, arrays and plain objects.
 * A farm given this module's path (`serializers.JSON`, the default) uses deflow's built-in
 * 'json' serializer instead, the IPC channel's own JSON, which has the same semantics and is the
 * fastest; the class is here for code that extends it or calls it directly.
 */
import { Serializer } from '../serializer.js';

export default class JsonSerializer extends Serializer {
  encode(data: unknown): string | undefined {
    return JSON.stringify(data);
  }

  decode(data: unknown): unknown {
    return typeof data === 'string' ? (JSON.parse(data) as unknown) : data;
  }
}
