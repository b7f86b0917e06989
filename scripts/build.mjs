// Builds dist/ with tsc, then copies the non-TypeScript assets (Lua scripts, SQL files)
// that the backends read at run time, and the server's prebuilt dashboard (plain HTML, CSS
// and an ES module: no front-end build), so they resolve from node_modules after install.
import { execFileSync } from 'node:child_process';
import { cpSync, readdirSync, rmSync, statSync, chmodSync, existsSync } from 'node:fs';
import { join, extname } from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const root = new URL('..', import.meta.url).pathname;
const assetExtensions = new Set(['.lua', '.sql']);

rmSync(join(root, 'dist'), { recursive: true, force: true });
execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')], {
  stdio: 'inherit',
});

function copyAssets(dir) {
  for (const entry of readdirSync(dir)) {
    const from = join(dir, entry);
    if (statSync(from).isDirectory()) copyAssets(from);
    else if (assetExtensions.has(extname(entry))) {
      cpSync(from, from.replace(join(root, 'src'), join(root, 'dist')));
    }
  }
}
copyAssets(join(root, 'src'));
cpSync(join(root, 'src/server/dashboard'), join(root, 'dist/server/dashboard'), { recursive: true });

const cli = join(root, 'dist/cli/main.js');
if (existsSync(cli)) chmodSync(cli, 0o755);
