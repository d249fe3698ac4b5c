/**
 * One SSH handshake: pinned host key, optional jump host, a deadline over the whole of it,
 * and failures sorted into permanent (wrong key, refused login) and retryable (the rest).
 */
import { createHash } from 'node:crypto';
import type { Duplex } from 'node:stream';
import ssh2, { type ConnectConfig } from 'ssh2';
import { PermanentError } from '../errors.ts';
import { AuthenticationError, HostKeyMismatchError, TransientExecError } from './errors.ts';

// ssh2 is CommonJS whose exports Node cannot list statically: take them from the default export.
export const { Client, utils } = ssh2;
export type Client = InstanceType<typeof Client>;

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

export interface ConnectOptions {
  connectTimeoutMs: number;
  keepaliveIntervalMs: number;
  keepaliveCountMax: number;
}

export interface Tunnel {
  stream: Duplex;
  release(): void;
}

export function fingerprintSha256(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

/** Refuses a spec that can never connect, before anything is tried. */
export function assertHostSpec(spec: HostSpec): void {
  if (!/^SHA256:[A-Za-z0-9+/]{43}$/.test(spec.hostKeySha256)) {
    throw new PermanentError(`${spec.name}: hostKeySha256 must look like SHA256:<43 base64 chars>`);
  }
  if (utils.parseKey(spec.privateKey) instanceof Error) {
    throw new PermanentError(`${spec.name}: the private key cannot be parsed (encrypted keys are not supported)`);
  }
  if (spec.jump) assertHostSpec(spec.jump);
}

/**
 * Connects and authenticates `client`. `openTunnel`, when given, opens the socket through the
 * jump host; the tunnel is released when the client closes.
 */
export async function connectClient(
  client: Client,
  spec: HostSpec,
  options: ConnectOptions,
  openTunnel?: (address: string, port: number) => Promise<Tunnel>,
): Promise<void> {
  const port = spec.port ?? 22;
  let offered: string | undefined;
  let tunnel: Tunnel | undefined;
  const deadline = AbortSignal.timeout(options.connectTimeoutMs);
  try {
    if (openTunnel) {
      tunnel = await raceDeadline(openTunnel(spec.address, port), deadline);
      client.once('close', tunnel.release);
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
        client.once('ready', resolve).once('error', reject);
        // Nagle's algorithm with delayed ACKs costs ~40 ms on every channel open (measured:
        // 56 ms -> 10 ms per command); SSH's small request/reply packets need it off.
        client.once('connect', () => client.setNoDelay(true));
        client.connect(config);
      }),
      deadline,
    );
  } catch (error) {
    tunnel?.release();
    if (offered !== undefined && offered !== spec.hostKeySha256) {
      throw new HostKeyMismatchError(spec.name, spec.hostKeySha256, offered);
    }
    // Already sorted, e.g. by the jump host's own handshake.
    if (error instanceof TransientExecError || error instanceof PermanentError) throw error;
    if ((error as { level?: string }).level === 'client-authentication') {
      throw new AuthenticationError(spec.name, spec.username, error);
    }
    const reason = error instanceof Error ? error.message : String(error);
    throw new TransientExecError(spec.name, 'CONNECT_FAILED', `cannot connect to ${spec.address}:${port}: ${reason}`, {
      cause: error,
    });
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
