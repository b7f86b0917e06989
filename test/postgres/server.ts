/**
 * A PostgreSQL cluster owned by one test or chaos run (initdb in a temporary directory, its own
 * loopback port, trust authentication), started, stopped and restarted at will with pg_ctl.
 * initdb refuses to run as root: as root, the cluster belongs to the "postgres" user.
 */
import { execFile } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../helpers/free-port.js';

const run = promisify(execFile);

/** The uid and gid to run the cluster as: the "postgres" user when this process is root. */
async function clusterOwner(): Promise<{ user: string; uid: number; gid: number } | null> {
  if (process.getuid?.() !== 0) return null;
  const { stdout: uid } = await run('id', ['-u', 'postgres']);
  const { stdout: gid } = await run('id', ['-g', 'postgres']);
  return { user: 'postgres', uid: Number(uid.trim()), gid: Number(gid.trim()) };
}

export interface OwnedPostgresOptions {
  /** Off by default (tests kill processes, not the machine); the chaos suite turns it on. */
  fsync?: boolean;
  /** Default 100; several worker processes with pools need more. */
  maxConnections?: number;
}

/** Where initdb and pg_ctl are: on PATH, else the directory `pg_config --bindir` names (Debian keeps them off PATH). */
async function binDir(): Promise<string> {
  try {
    await run('initdb', ['--version']);
    return '';
  } catch {
    const { stdout } = await run('pg_config', ['--bindir']).catch(() => {
      throw new Error('a PostgreSQL cluster of its own needs initdb and pg_ctl (on PATH, or found with pg_config --bindir)');
    });
    return `${stdout.trim()}/`;
  }
}

export class OwnedPostgres {
  private readonly dir = mkdtempSync(join(tmpdir(), 'deflow-pg-'));
  private owner: { user: string; uid: number; gid: number } | null = null;

  private bin = '';

  private constructor(
    readonly port: number,
    private readonly settings: OwnedPostgresOptions,
  ) {}

  /** Runs initdb (the server is not started: call start()). */
  static async create(settings: OwnedPostgresOptions = {}): Promise<OwnedPostgres> {
    const server = new OwnedPostgres(await freePort(), settings);
    server.bin = await binDir();
    server.owner = await clusterOwner();
    if (server.owner !== null) {
      chmodSync(server.dir, 0o700);
      chownSync(server.dir, server.owner.uid, server.owner.gid);
    }
    await server.pg('initdb', ['-D', server.data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
    return server;
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  private get data(): string {
    return join(this.dir, 'data');
  }

  /** Starts the server and waits until it accepts connections. */
  async start(): Promise<void> {
    const { fsync = false, maxConnections = 100 } = this.settings;
    const options = `-p ${this.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='${this.dir}' -c fsync=${fsync ? 'on' : 'off'} -c max_connections=${maxConnections}`;
    await this.pg('pg_ctl', ['-D', this.data, '-o', options, '-l', join(this.dir, 'log'), '-w', '-t', '60', 'start']);
  }

  /** `pg_ctl restart -m immediate`: every connection is cut without a clean shutdown; waits until it accepts connections again. */
  async restartImmediate(): Promise<void> {
    await this.pg('pg_ctl', ['-D', this.data, '-l', join(this.dir, 'log'), '-m', 'immediate', '-w', '-t', '60', 'restart']);
  }

  /** Stops without a checkpoint (a crash, as far as the data is concerned), stays down `outageMs`, starts again. */
  async crashRestart(outageMs: number): Promise<void> {
    await this.stop('immediate');
    await new Promise((resolve) => setTimeout(resolve, outageMs));
    await this.start();
  }

  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    await this.pg('pg_ctl', ['-D', this.data, '-m', mode, '-w', '-t', '60', 'stop']).catch(() => undefined);
  }

  async destroy(): Promise<void> {
    await this.stop('immediate');
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async pg(command: string, args: readonly string[]): Promise<void> {
    const owner = this.owner;
    const tool = `${this.bin}${command}`;
    const [file, argv] = owner === null || owner.user === userInfo().username ? [tool, args] : ['runuser', ['-u', owner.user, '--', tool, ...args]];
    await run(file, [...argv], { cwd: this.dir, timeout: 90_000 });
  }
}
