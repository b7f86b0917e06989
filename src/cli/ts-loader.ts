/**
 * Lets the CLI import TypeScript workflow and step files without a build step, through
 * tsx's ESM loader. Registered once; harmless for JavaScript files.
 */
import { register } from 'tsx/esm/api';

let registered = false;

export function enableTypeScript(): void {
  if (registered) return;
  register();
  registered = true;
}
