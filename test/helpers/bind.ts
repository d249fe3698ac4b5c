import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { DnsServer } from '../../lib/dns/client.ts';
import type { TsigAlgorithm, TsigKey } from '../../lib/dns/tsig.ts';

const run = promisify(execFile);
const BIND_SH = fileURLToPath(new URL('../lab/bind.sh', import.meta.url));

export interface LabBind {
  server: DnsServer;
  /** The primary zone the lab serves, updatable and transferable with `key`. */
  zone: string;
  key: TsigKey;
  dir: string;
  rndc(args: string[]): Promise<string>;
  /** `dig +short` lines; `options` go before the name, e.g. `['-y', ...]`. */
  dig(name: string, type: string, options?: string[]): Promise<string[]>;
  down(): Promise<void>;
}

interface BindDescription {
  address: string;
  port: number;
  zone: string;
  keyName: string;
  algorithm: TsigAlgorithm;
  secretFile: string;
  rndcConf: string;
  dir: string;
  pid: number;
}

/** A throwaway named on a free loopback port, in its own temporary directory; `down()` stops it and removes the directory. */
export async function labBind(address = '127.0.0.1'): Promise<LabBind> {
  const dir = await mkdtemp(join(tmpdir(), 'up-bind-'));
  const description = await startOnFreePort(dir, address);
  const secret = Buffer.from((await readFile(description.secretFile, 'utf8')).trim(), 'base64');
  const server = { address: description.address, port: description.port };
  let stopped = false;
  return {
    server,
    zone: description.zone,
    key: { name: description.keyName, algorithm: description.algorithm, secret },
    dir,
    async rndc(args) {
      const { stdout } = await run('rndc', ['-c', description.rndcConf, ...args]);
      return stdout;
    },
    async dig(name, type, options = []) {
      const { stdout } = await run('dig', [
        '+short',
        '+norecurse',
        '+time=2',
        '+tries=1',
        '-p',
        String(server.port),
        `@${server.address}`,
        ...options,
        name,
        type,
      ]);
      return stdout
        .split('\n')
        .map((line) => line.trim())
        .filter(Boolean);
    },
    async down() {
      if (stopped) return;
      stopped = true;
      await run(BIND_SH, ['down', dir]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function startOnFreePort(dir: string, address: string): Promise<BindDescription> {
  let lastError: unknown;
  // The port can be taken between probing and named binding it; bind.sh refuses a busy port, so try again.
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const { stdout } = await run(BIND_SH, ['up', dir, address, String(await freePort(address))]);
      return JSON.parse(stdout) as BindDescription;
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}

/**
 * A TSIG keys directory as up reads it (UP_TSIG_KEYS_DIR): one file per key name holding the
 * base64 secret, mode 0600. The test sets the variable itself; `remove()` deletes the directory.
 */
export async function tsigKeysDir(name: string, secret: Buffer | string): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'up-tsig-'));
  await writeFile(join(dir, name), typeof secret === 'string' ? secret : secret.toString('base64'), { mode: 0o600 });
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** A port free for both TCP and UDP, since DNS needs both. */
export async function freePort(address = '127.0.0.1'): Promise<number> {
  for (;;) {
    const tcp = net.createServer();
    await new Promise<void>((resolve, reject) => tcp.once('error', reject).listen(0, address, resolve));
    const port = (tcp.address() as net.AddressInfo).port;
    const udp = dgram.createSocket(net.isIPv6(address) ? 'udp6' : 'udp4');
    const udpFree = await new Promise<boolean>((resolve) => {
      udp.once('error', () => resolve(false));
      udp.bind(port, address, () => resolve(true));
    });
    await new Promise<void>((resolve) => udp.close(() => resolve())).catch(() => undefined);
    await new Promise<void>((resolve) => tcp.close(() => resolve()));
    if (udpFree) return port;
  }
}

export type ScriptedHandler = (request: Buffer, transport: 'udp' | 'tcp') => Buffer[];

/**
 * A scripted DNS server on loopback (UDP and TCP on one port) for what a real server will not do on
 * demand: truncate, time out, forge, or show us exactly what a client (ours, dig, nsupdate) sent.
 * `handler` returns the replies; none means silence (UDP) or closing the connection (TCP).
 */
export class ScriptedDnsServer {
  handler: ScriptedHandler = () => [];
  received: Array<{ transport: 'udp' | 'tcp'; request: Buffer }> = [];
  server: DnsServer = { address: '127.0.0.1', port: 0 };
  readonly #udp = dgram.createSocket('udp4');
  readonly #tcp = net.createServer((socket) => {
    let pending = Buffer.alloc(0);
    socket.on('error', () => undefined);
    socket.on('data', (chunk) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        const request = Buffer.from(pending.subarray(2, 2 + pending.readUInt16BE(0)));
        pending = pending.subarray(2 + request.length);
        const replies = this.#answer(request, 'tcp');
        if (replies.length === 0) socket.end();
        for (const reply of replies) socket.write(Buffer.concat([Buffer.from([reply.length >> 8, reply.length & 0xff]), reply]));
      }
    });
  });

  async start(): Promise<this> {
    const port = await freePort();
    await new Promise<void>((resolve) => this.#udp.bind(port, '127.0.0.1', resolve));
    await new Promise<void>((resolve) => this.#tcp.listen(port, '127.0.0.1', resolve));
    this.#udp.on('message', (request, from) => {
      for (const reply of this.#answer(request, 'udp')) this.#udp.send(reply, from.port, from.address);
    });
    this.server = { address: '127.0.0.1', port };
    return this;
  }

  /** Replace the script and forget what was received. */
  script(handler: ScriptedHandler): void {
    this.handler = handler;
    this.received = [];
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.#udp.close(() => resolve()));
    await new Promise<void>((resolve) => this.#tcp.close(() => resolve()));
  }

  #answer(request: Buffer, transport: 'udp' | 'tcp'): Buffer[] {
    this.received.push({ transport, request });
    return this.handler(request, transport);
  }
}
