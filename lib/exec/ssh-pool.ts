/**
 * SSH connections to one host, shared by everything in this process that acts on it.
 * A lease is one channel slot on a live connection; slots stay below sshd's MaxSessions, a
 * second connection opens when the first is full, and a connection closes only when idle.
 */
import { createHash } from 'node:crypto';
import type { Duplex } from 'node:stream';
import ssh2, { type ConnectConfig } from 'ssh2';
import { PermanentError } from '../../queues/errors.ts';
import { AuthenticationError, HostKeyMismatchError, TransientExecError } from './errors.ts';

// ssh2 is CommonJS whose exports Node cannot list statically: take them from the default export.
const { Client, utils } = ssh2;
type Client = InstanceType<typeof Client>;

export interface HostSpec {
  /** For messages and metrics; not resolved. */
  name: string;
  address: string;
  port?: number;
  username: string;
  /** The key itself (the caller reads it from its *_FILE path); never logged. */
  privateKey: Buffer;
  /** The pinned host key fingerprint as `ssh-keygen -lf` prints it: `SHA256:<base64>`. */
  hostKeySha256: string;
  /** Reach this host through another one (ssh -J). */
  jump?: HostSpec;
}

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

export function fingerprintSha256(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

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
  ready = false;
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

  constructor(
    private readonly spec: HostSpec,
    options: PoolOptions = {},
  ) {
    this.host = spec.name;
    this.options = { ...DEFAULTS, ...options };
    if (this.options.maxChannelsPerConnection < 1 || this.options.maxChannelsPerConnection > 9) {
      throw new RangeError('maxChannelsPerConnection must be 1..9 (below sshd MaxSessions 10)');
    }
    if (!/^SHA256:[A-Za-z0-9+/]{43}$/.test(spec.hostKeySha256)) {
      throw new RangeError(`${spec.name}: hostKeySha256 must look like SHA256:<43 base64 chars>`);
    }
    if (utils.parseKey(spec.privateKey) instanceof Error) {
      throw new PermanentError(`${spec.name}: the private key cannot be parsed (encrypted keys are not supported)`);
    }
    if (spec.jump) this.jumpPool = new SshPool(spec.jump, options);
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
  async openTunnel(address: string, port: number): Promise<{ stream: Duplex; release(): void }> {
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
      const stream = await new Promise<Duplex>((resolve, reject) =>
        connection.client.forwardOut('127.0.0.1', 0, address, port, (error, channel) =>
          error ? reject(error) : resolve(channel),
        ),
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
    connection.established = this.handshake(connection).catch((error: unknown) => {
      forget();
      connection.client.destroy();
      throw error;
    });
    connection.established.catch(() => undefined);
    return connection;
  }

  private async handshake(connection: Connection): Promise<void> {
    const { spec, options } = this;
    const port = spec.port ?? 22;
    let offered: string | undefined;
    let tunnel: { stream: Duplex; release(): void } | undefined;
    const deadline = AbortSignal.timeout(options.connectTimeoutMs);
    try {
      if (this.jumpPool) {
        tunnel = await raceDeadline(this.jumpPool.openTunnel(spec.address, port), deadline);
        connection.client.once('close', tunnel.release);
      }
      const config: ConnectConfig = {
        host: spec.address,
        port,
        username: spec.username,
        privateKey: spec.privateKey,
        sock: tunnel?.stream,
        readyTimeout: options.connectTimeoutMs,
        keepaliveInterval: options.keepaliveIntervalMs,
        keepaliveCountMax: options.keepaliveCountMax,
        hostVerifier: (key: Buffer) => {
          offered = fingerprintSha256(key);
          return offered === spec.hostKeySha256;
        },
      };
      await raceDeadline(
        new Promise<void>((resolve, reject) => {
          connection.client.once('ready', resolve).once('error', reject);
          connection.client.connect(config);
        }),
        deadline,
      );
      connection.ready = true;
    } catch (error) {
      tunnel?.release();
      if (offered !== undefined && offered !== spec.hostKeySha256) {
        throw new HostKeyMismatchError(spec.name, spec.hostKeySha256, offered);
      }
      if (error instanceof TransientExecError) throw error;
      if ((error as { level?: string }).level === 'client-authentication') {
        throw new AuthenticationError(spec.name, spec.username, error);
      }
      const reason = error instanceof Error ? error.message : String(error);
      throw new TransientExecError(spec.name, 'CONNECT_FAILED', `cannot connect to ${spec.address}:${port}: ${reason}`, {
        cause: error,
      });
    }
  }
}

async function raceDeadline<T>(work: Promise<T>, deadline: AbortSignal): Promise<T> {
  let onAbort!: () => void;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(new Error('connect timeout'));
    if (deadline.aborted) onAbort();
    deadline.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([work, aborted]);
  } finally {
    deadline.removeEventListener('abort', onAbort);
  }
}

/** The fingerprint a host offers, without authenticating: for pinning a host when it is added. */
export async function fetchHostKey(address: string, port = 22, timeoutMs = 10_000): Promise<string> {
  const client = new Client();
  let offered: string | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      client.on('error', (error) => (offered ? resolve() : reject(error)));
      client.on('close', () => (offered ? resolve() : reject(new Error(`no host key from ${address}:${port}`))));
      client.connect({
        host: address,
        port,
        username: 'fetch-host-key',
        readyTimeout: timeoutMs,
        hostVerifier: (key: Buffer) => {
          offered = fingerprintSha256(key);
          return false; // stop before authenticating
        },
      });
    });
  } catch (error) {
    throw new TransientExecError(address, 'CONNECT_FAILED', `cannot fetch host key from ${address}:${port}`, {
      cause: error,
    });
  } finally {
    client.end();
  }
  return offered!;
}
