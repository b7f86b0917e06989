/**
 * `deflow ls` and `deflow show` on Redis only read: no Functions library loaded into the server,
 * and no index entry dropped (a node repairs those), so a look leaves the server as it was.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OwnedRedis } from './server.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const TSX = new URL('../../node_modules/tsx/dist/loader.mjs', import.meta.url).href;

let server: OwnedRedis;
let client: Redis;
beforeAll(async () => {
  server = await OwnedRedis.start({ persistence: false });
  client = new Redis(server.port, '127.0.0.1');
});
afterAll(async () => {
  client.disconnect();
  await server.destroy();
});

function deflow(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', TSX, MAIN, ...args, '--backend', server.url], { timeout: 60_000, env: { ...process.env, NO_COLOR: '1' } }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr });
    });
  });
}

describe('deflow ls / show on Redis only read', () => {
  it('loads no Functions library and leaves index entries of vanished workflows alone', async () => {
    // An index entry whose workflow is gone: a listing by a node drops it.
    const ghost = `${String(Date.now()).padStart(15, '0')}:ghost`;
    await client.zadd('look:{look}:bytime', 0, ghost);
    const listed = await deflow(['ls', '--prefix', 'look']);
    expect(listed.stderr).toBe('');
    expect(listed.stdout).toContain('no workflows in redis://127.0.0.1');
    const shown = await deflow(['show', 'ghost', '--prefix', 'look']);
    expect(shown.stderr).toMatch(/no workflow "?ghost"? in redis:\/\//);
    expect(await client.call('FUNCTION', 'LIST')).toEqual([]);
    expect(await client.zrange('look:{look}:bytime', 0, -1)).toEqual([ghost]);
    expect(await client.dbsize()).toBe(1);
  }, 60_000);
});
