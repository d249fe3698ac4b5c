/**
 * A real SMTP server for tests: Debian's python3-aiosmtpd, delivering into a Maildir that the
 * test reads as a mail client would. It can be started late on a port chosen early, so a
 * test can show that mail queued while the server was away is delivered once it is back.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ReceivedMail {
  from: string;
  to: string;
  subject: string;
  body: string;
}

export interface LabSmtp {
  port: number;
  url: string;
  start(): Promise<void>;
  messages(): ReceivedMail[];
  down(): Promise<void>;
}

export async function labSmtp(): Promise<LabSmtp> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'up-smtp-'));
  const maildir = join(dir, 'mail');
  let child: ChildProcess | null = null;
  return {
    port,
    url: `smtp://127.0.0.1:${port}`,
    async start() {
      child = spawn('/usr/bin/python3', ['-m', 'aiosmtpd', '-n', '-l', `127.0.0.1:${port}`, '-c', 'aiosmtpd.handlers.Mailbox', maildir], {
        stdio: 'ignore',
      });
      for (let i = 0; i < 100 && !(await answers(port)); i++) await sleep(100);
      if (!(await answers(port))) throw new Error(`aiosmtpd did not listen on ${port} (is python3-aiosmtpd installed?)`);
    },
    messages() {
      const files = ['new', 'cur'].flatMap((sub) => {
        try {
          return readdirSync(join(maildir, sub)).map((f) => join(maildir, sub, f));
        } catch {
          return [];
        }
      });
      return files.sort().map((file) => parse(readFileSync(file, 'utf8')));
    },
    async down() {
      child?.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function parse(raw: string): ReceivedMail {
  const [head, ...rest] = raw.split(/\r?\n\r?\n/);
  const header = (name: string) => new RegExp(`^${name}: (.*)$`, 'mi').exec(head)?.[1]?.trim() ?? '';
  return { from: header('From'), to: header('To'), subject: header('Subject'), body: rest.join('\n\n') };
}

function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => (socket.destroy(), resolve(true)));
    socket.on('error', () => resolve(false));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}
