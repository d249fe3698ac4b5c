/**
 * SSH connections to one host, shared by everything in this process that acts on it.
 * A lease is one channel slot on a live connection; slots stay below sshd's MaxSessions, a
 * second connection opens when the first is full, and a connection closes only when idle.
 */
import { inspect } from 'node:util';
import { TransientExecError } from './errors.ts';
import { assertHostSpec, Client, connectClient, type HostSpec, type Tunnel } from './ssh-connect.ts';

export { fetchHostKey, fingerprintSha256, type HostSpec } from './ssh-connect.ts';

export interface PoolOptions {
  connectTimeoutMs?: number;
  keepaliveIntervalMs?: number;
  keepaliveCountMax?: number;
  /** Channels per connection; must stay below sshd's MaxSessions (default 10). */
  maxChannelsPerConnection?: number;
  maxConnections?: number;
  /** An unused connection closes after this long. */
  idleTimeoutMs?: number;
}

const DEFAULTS: Required<PoolOptions> = {
  connectTimeoutMs: 10_000,
  keepaliveIntervalMs: 10_000,
  keepaliveCountMax: 3,
  maxChannelsPerConnection: 8,
  maxConnections: 4,
  idleTimeoutMs: 30_000,
};

export interface Lease {
  readonly client: Client;
  /** Gives the slot back; call exactly once, when the channel has closed. */
  release(): void;
}

class Connection {
  readonly client = new Client();
  /** Channel slots handed out (including to callers still waiting for the handshake). */
  channels = 0;
  /** Connections to other hosts tunnelled through this one; they keep it open. */
  tunnels = 0;
  closed = false;
  idleTimer?: NodeJS.Timeout;
  established!: Promise<void>;
  private markGone!: () => void;
  /** Settles once the connection is finished with, whether it ever connected or not. */
  readonly gone = new Promise<void>((resolve) => (this.markGone = resolve));
  finish(): void {
    this.closed = true;
    clearTimeout(this.idleTimer);
    this.markGone();
  }
}

export class SshPool {
  readonly host: string;
  private readonly options: Required<PoolOptions>;
  private readonly connections = new Set<Connection>();
  private readonly waiting: Array<() => void> = [];
  private readonly jumpPool?: SshPool;
  private closing = false;
  /** Connections opened over the pool's life, for tests and metrics. */
  connectsTotal = 0;

  /** Holds the private key: a #field, so neither util.inspect nor JSON.stringify reaches it. */
  readonly #spec: HostSpec;

  constructor(spec: HostSpec, options: PoolOptions = {}) {
    this.#spec = spec;
    this.host = spec.name;
    this.options = { ...DEFAULTS, ...options };
    if (this.options.maxChannelsPerConnection < 1 || this.options.maxChannelsPerConnection > 9) {
      throw new RangeError('maxChannelsPerConnection must be 1..9 (below sshd MaxSessions 10)');
    }
    assertHostSpec(spec);
    if (spec.jump) this.jumpPool = new SshPool(spec.jump, options);
  }

  /** What logs may see of a pool: never the key (ssh2 keeps it in each client's config). */
  toJSON(): Record<string, unknown> {
    return { host: this.host, ...this.stats };
  }

  [inspect.custom](): string {
    return `SshPool ${JSON.stringify(this.toJSON())}`;
  }

  /** Channels this pool may have open at once, over all its connections. */
  get capacity(): number {
    return this.options.maxConnections * this.options.maxChannelsPerConnection;
  }

  get stats(): { connections: number; channels: number; connectsTotal: number } {
    let channels = 0;
    for (const connection of this.connections) channels += connection.channels;
    return { connections: this.connections.size, channels, connectsTotal: this.connectsTotal };
  }

  /** A channel slot on a connected client; waits while every connection is full. */
  async acquire(): Promise<Lease> {
    for (;;) {
      if (this.closing) throw new TransientExecError(this.host, 'CLOSED', 'executor is closed');
      const connection = this.reserve();
      if (connection) {
        try {
          await connection.established;
        } catch (error) {
          this.releaseSlot(connection);
          throw error;
        }
        if (connection.closed) {
          this.releaseSlot(connection);
          continue;
        }
        let released = false;
        return {
          client: connection.client,
          release: () => {
            if (released) return;
            released = true;
            this.releaseSlot(connection);
          },
        };
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
  }

  /** Closes idle connections now and the others as soon as their channels are done. */
  async close(): Promise<void> {
    this.closing = true;
    for (const wake of this.waiting.splice(0)) wake();
    await Promise.all([...this.connections].map((connection) => this.closeWhenIdle(connection)));
    await this.jumpPool?.close();
  }

  /** A socket to address:port opened from this host (for a host behind it). */
  async openTunnel(address: string, port: number): Promise<Tunnel> {
    const lease = await this.acquire();
    const connection = [...this.connections].find((c) => c.client === lease.client)!;
    // A tunnel is not an sshd session: turn the slot into a tunnel reference.
    connection.tunnels++;
    lease.release();
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      connection.tunnels--;
      this.settle(connection);
    };
    try {
      const stream = await new Promise<Tunnel['stream']>((resolve, reject) =>
        connection.client.forwardOut('127.0.0.1', 0, address, port, (error, channel) => (error ? reject(error) : resolve(channel))),
      );
      return { stream, release };
    } catch (error) {
      release();
      throw new TransientExecError(this.host, 'CONNECT_FAILED', `cannot reach ${address}:${port} through this host`, {
        cause: error,
      });
    }
  }

  private reserve(): Connection | undefined {
    const { maxChannelsPerConnection, maxConnections } = this.options;
    for (const connection of this.connections) {
      if (!connection.closed && connection.channels < maxChannelsPerConnection) {
        connection.channels++;
        clearTimeout(connection.idleTimer);
        return connection;
      }
    }
    if (this.connections.size >= maxConnections) return undefined;
    const connection = this.open();
    connection.channels++;
    return connection;
  }

  private releaseSlot(connection: Connection): void {
    connection.channels--;
    this.settle(connection);
    this.waiting.shift()?.();
  }

  /** Starts the idle countdown (or closes at once when the pool is closing) once nothing uses it. */
  private settle(connection: Connection): void {
    if (connection.closed || connection.channels > 0 || connection.tunnels > 0) return;
    if (this.closing) {
      this.end(connection);
      return;
    }
    clearTimeout(connection.idleTimer);
    connection.idleTimer = setTimeout(() => this.end(connection), this.options.idleTimeoutMs);
    connection.idleTimer.unref();
  }

  /** Ends a connection nothing uses; marked closed first so no new lease lands on it. */
  private end(connection: Connection): void {
    connection.closed = true;
    connection.client.end();
  }

  private async closeWhenIdle(connection: Connection): Promise<void> {
    await connection.established.catch(() => undefined);
    this.settle(connection);
    await connection.gone;
  }

  private open(): Connection {
    const connection = new Connection();
    this.connections.add(connection);
    this.connectsTotal++;
    const forget = () => {
      connection.finish();
      this.connections.delete(connection);
      for (const wake of this.waiting.splice(0)) wake();
    };
    connection.client.on('close', forget);
    // ssh2 emits 'error' before 'close' on a dropped connection; channels see it through 'close'.
    connection.client.on('error', () => undefined);
    const tunnel = this.jumpPool && ((address: string, port: number) => this.jumpPool!.openTunnel(address, port));
    connection.established = connectClient(connection.client, this.#spec, this.options, tunnel).catch((error: unknown) => {
      forget();
      connection.client.destroy();
      throw error;
    });
    connection.established.catch(() => undefined);
    return connection;
  }
}
