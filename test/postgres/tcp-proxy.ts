/**
 * A TCP proxy in front of PostgreSQL for outage tests: clients connect to the proxy's URL,
 * and the test can cut every connection and refuse new ones (nothing listens on the port),
 * then let them in again, without touching the shared server. Each cut connection's server
 * side sees its client go away, as it would in a network outage.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export class TcpProxy {
  private server: net.Server | null = null;
  private readonly pairs = new Set<net.Socket>();
  private port = 0;

  private constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  /** A proxy to the server of `url`, listening on a free local port. */
  static async start(url: string): Promise<TcpProxy> {
    const target = new URL(url);
    const proxy = new TcpProxy(target.hostname, Number(target.port || 5432));
    await proxy.listen(0);
    return proxy;
  }

  /** `url` with the proxy as its host and port. */
  urlFor(url: string): string {
    const through = new URL(url);
    through.hostname = '127.0.0.1';
    through.port = String(this.port);
    return through.toString();
  }

  /** Connections open through the proxy right now. */
  get open(): number {
    return this.pairs.size / 2;
  }

  /** Stops listening (new connections are refused) and cuts every open connection. */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const socket of this.pairs) socket.destroy();
    this.pairs.clear();
    if (server !== null) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Listens again on the same port. */
  async restore(): Promise<void> {
    if (this.server === null) await this.listen(this.port);
  }

  async close(): Promise<void> {
    await this.cut();
  }

  private async listen(port: number): Promise<void> {
    const server = net.createServer((client) => this.accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  private accept(client: net.Socket): void {
    const upstream = net.connect(this.targetPort, this.targetHost);
    const pair = [client, upstream];
    for (const socket of pair) {
      this.pairs.add(socket);
      socket.setNoDelay(true);
      // Either side ending or failing ends both, like a connection through a router.
      socket.on('error', () => undefined);
      socket.on('close', () => {
        for (const other of pair) {
          this.pairs.delete(other);
          other.destroy();
        }
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
