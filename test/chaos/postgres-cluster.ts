/**
 * A PostgreSQL cluster owned by one chaos run: initdb in a temporary directory, a free loopback
 * port, and crash restarts (`pg_ctl stop -m immediate`: no checkpoint, recovery from the WAL on
 * start, as after a power cut). Run as root, the server runs as the `postgres` user.
 */
import { execFile } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no free port'))));
    });
  });
}

/** postgres refuses to run as root: run its tools as the postgres user then. */
async function postgresUser(): Promise<{ uid: number; gid: number } | null> {
  if (process.getuid?.() !== 0) return null;
  const { stdout: uid } = await run('id', ['-u', 'postgres']);
  const { stdout: gid } = await run('id', ['-g', 'postgres']);
  return { uid: Number(uid.trim()), gid: Number(gid.trim()) };
}

/** Where initdb and pg_ctl are: on PATH, else the directory `pg_config --bindir` names (Debian keeps them off PATH). */
async function binDir(): Promise<string> {
  try {
    await run('initdb', ['--version']);
    return '';
  } catch {
    const { stdout } = await run('pg_config', ['--bindir']).catch(() => {
      throw new Error('chaos: the PostgreSQL backend needs initdb and pg_ctl (on PATH, or found with pg_config --bindir)');
    });
    return `${stdout.trim()}/`;
  }
}

export class OwnedPostgres {
  private constructor(
    readonly port: number,
    private readonly root: string,
    private readonly asUser: { uid: number; gid: number } | null,
    private readonly bin: string,
  ) {}

  static async start(): Promise<OwnedPostgres> {
    const root = mkdtempSync(join(tmpdir(), 'deflow-chaos-pg-'));
    const user = await postgresUser();
    if (user !== null) {
      chmodSync(root, 0o755);
      chownSync(root, user.uid, user.gid);
    }
    const cluster = new OwnedPostgres(await freePort(), root, user, await binDir());
    await cluster.tool('initdb', ['-D', cluster.data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
    await cluster.begin();
    return cluster;
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  private get data(): string {
    return join(this.root, 'data');
  }

  private tool(command: string, args: string[]): Promise<{ stdout: string }> {
    const options = { timeout: 120_000, ...(this.asUser ?? {}) };
    return run(`${this.bin}${command}`, args, options);
  }

  private async begin(): Promise<void> {
    const settings = `-p ${this.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${this.root} -c max_connections=200`;
    await this.tool('pg_ctl', ['start', '-D', this.data, '-w', '-t', '60', '-l', join(this.root, 'server.log'), '-o', settings]);
  }

  /** Stops without a checkpoint (a crash, as far as the data is concerned), stays down `outageMs`, starts again. */
  async crashRestart(outageMs: number): Promise<void> {
    await this.tool('pg_ctl', ['stop', '-D', this.data, '-m', 'immediate', '-w']);
    await new Promise((resolve) => setTimeout(resolve, outageMs));
    await this.begin();
  }

  async destroy(): Promise<void> {
    await this.tool('pg_ctl', ['stop', '-D', this.data, '-m', 'immediate', '-w']).catch(() => undefined);
    rmSync(this.root, { recursive: true, force: true });
  }
}
