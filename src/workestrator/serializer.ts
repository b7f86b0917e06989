/**
 * The base class of Workestrator serializers. Extend it, implement `encode` and `decode`, export
 * the class (`module.exports = MySerializer` or `export default`) and give the module's absolute
 * path as `serializerPath`. The farm and each worker make one instance (no argument): arguments
 * are encoded by the farm and decoded by the worker, results the other way round.
 *
 * `encode` may return a string, bytes (a Buffer or Uint8Array, handed to `decode` as a Buffer),
 * or any other value V8 serialization carries (it crosses as it is). `decode` is synchronous.
 */
export abstract class Serializer {
  abstract encode(data: unknown): unknown;
  abstract decode(data: unknown): unknown;
}
