/**
 * A real Redis Cluster for tests: three masters on free loopback ports, in a temp dir, spawned
 * as children of the test process and joined with `redis-cli --cluster create`. Started on
 * first use, torn down by `stop()`.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import type { BackendUnderTest } from './backends.js';
import { freePort } from './free-port.js';
import { corruptRedisRecord, expireRedisNode, randomPrefix } from './redis.js';

/** Why this machine cannot start a cluster (no redis-server or redis-cli, or one without cluster support); null when it can. */
export function clusterUnsupported(): string | null {
  const server = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (server.error !== undefined || server.status !== 0) return 'redis-server is not installed';
  const major = Number(/v=(\d+)\./.exec(server.stdout)?.[1] ?? 0);
  if (major < 7) return `redis-server ${server.stdout.trim()} is older than 7 (no Functions, no sharded pub/sub)`;
  const cli = spawnSync('redis-cli', ['--cluster', 'help'], { encoding: 'utf8' });
  if (cli.error !== undefined || !`${cli.stdout}${cli.stderr}`.includes('create')) return 'redis-cli lacks --cluster support';
  return null;
}

export class TestCluster {
  readonly ports: number[] = [];
  private readonly children: ChildProcess[] = [];
  private dir: string | null = null;
  private starting: Promise<void> | null = null;

  constructor(private readonly masters = 3) {}

  /** `redis+cluster://127.0.0.1:P1,…` once started. */
  get url(): string {
    return `redis+cluster://${this.ports.map((port) => `127.0.0.1:${port}`).join(',')}`;
  }

  start(): Promise<void> {
    this.starting ??= this.boot();
    return this.starting;
  }

  async stop(): Promise<void> {
    for (const child of this.children.splice(0)) {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        await exited;
      }
    }
    if (this.dir !== null) rmSync(this.dir, { recursive: true, force: true });
    this.dir = null;
  }

  private async boot(): Promise<void> {
    const dir = mkdtempSync(join(tmpdir(), 'deflow-cluster-'));
    this.dir = dir;
    for (let i = 0; i < this.masters; i++) {
      const port = await freePort();
      this.ports.push(port);
      const args = ['--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`];
      args.push('--save', '', '--appendonly', 'no', '--daemonize', 'no', '--dir', dir, '--cluster-node-timeout', '5000');
      const child = spawn('redis-server', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
      this.children.push(child);
      // A test process that dies without afterAll leaves no server behind.
      process.once('exit', () => child.kill('SIGKILL'));
    }
    for (const port of this.ports) await waitFor(() => ping(port), `redis-server on port ${port} to answer`);
    const create = spawnSync(
      'redis-cli',
      ['--cluster', 'create', ...this.ports.map((port) => `127.0.0.1:${port}`), '--cluster-replicas', '0', '--cluster-yes'],
      { encoding: 'utf8', timeout: 60_000 },
    );
    if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stdout}${create.stderr}`);
    for (const port of this.ports) await waitFor(() => clusterOk(port), `the cluster to be ok on port ${port}`);
  }
}

async function withClient<T>(port: number, use: (client: Redis) => Promise<T>): Promise<T> {
  const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await use(client);
  } finally {
    client.disconnect();
  }
}

function ping(port: number): Promise<boolean> {
  return withClient(port, async (client) => (await client.ping()) === 'PONG').catch(() => false);
}

function clusterOk(port: number): Promise<boolean> {
  return withClient(port, async (client) => String(await client.cluster('INFO')).includes('cluster_state:ok')).catch(() => false);
}

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** The conformance backend on a TestCluster: a fresh prefix per store (the cluster goes away after the file). */
export function redisClusterUnderTest(cluster: TestCluster): BackendUnderTest {
  const filePrefix = randomPrefix('cluster');
  let stores = 0;
  return {
    name: 'redis-cluster',
    async fresh() {
      await cluster.start();
      return { backend: cluster.url, prefix: `${filePrefix}-${stores++}` };
    },
    cleanup() {
      return Promise.resolve();
    },
    expireNode(store, nodeId) {
      return expireRedisNode(String(store.prefix), nodeId, { keepLeaseLength: false, url: cluster.url });
    },
    corruptRecord(store, target) {
      return corruptRedisRecord(String(store.prefix), target, cluster.url);
    },
    differs: { startOrder: 'the claims of one round go to different masters, which answer in any order' },
    refuses: {
      keyConcurrency: 'a Redis Cluster refuses keyConcurrency: its count spans workflows in other slots',
      keyedRateLimit: 'a Redis Cluster refuses a keyed rate limit: its buckets span workflows in other slots',
    },
  };
}
