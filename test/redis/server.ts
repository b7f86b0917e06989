/**
 * A redis-server owned by one test: its own port and directory, killed and restarted at will.
 * Persistent (AOF, appendfsync always) by default; `persistence: false` loses everything on a kill.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../helpers/free-port.js';

export { freePort };

export interface OwnedRedisOptions {
  /** AOF with appendfsync always (default), or no persistence at all. */
  persistence?: boolean;
}

export class OwnedRedis {
  private process: ChildProcess | null = null;
  private readonly dir = mkdtempSync(join(tmpdir(), 'deflow-redis-'));

  private constructor(
    readonly port: number,
    private readonly persistence: boolean,
  ) {}

  static async start(options: OwnedRedisOptions = {}): Promise<OwnedRedis> {
    const server = OwnedRedis.reserve(await freePort(), options);
    await server.start();
    return server;
  }

  /** A server on `port` (nothing listens there yet): call start() later. */
  static reserve(port: number, options: OwnedRedisOptions = {}): OwnedRedis {
    return new OwnedRedis(port, options.persistence ?? true);
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts (or restarts) the server on the same port and data directory; `extra` are more redis-server arguments. */
  start(extra: readonly string[] = []): Promise<void> {
    const persistence = this.persistence ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no'];
    const child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, ...persistence, '--save', '', ...extra],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    this.process = child;
    return new Promise((resolve, reject) => {
      let output = '';
      const timer = setTimeout(() => reject(new Error(`redis-server did not start within 10 s: ${output}`)), 10_000);
      child.stdout?.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('Ready to accept connections')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited (code ${code}): ${output}`));
      });
    });
  }

  /** Kills the server without warning (SIGKILL); with persistence nothing acknowledged is lost, without it everything is. */
  kill(): Promise<void> {
    const child = this.process;
    this.process = null;
    if (child === null || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }

  async destroy(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
