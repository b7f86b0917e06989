// Trivial task for per-call overhead: deflow farms and Piscina load this module.
export default function increment(x) {
  return x + 1;
}
