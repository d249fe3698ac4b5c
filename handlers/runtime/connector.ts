import { readFileSync } from 'node:fs';
import { LocalExecutor, SshExecutor, type Executor } from '../../lib/exec/index.ts';
import type { HostSpec } from '../../lib/exec/ssh-pool.ts';
import { PermanentError } from '../../lib/errors.ts';
import type { HostRef } from '../../queues/host-ref.ts';

/**
 * One executor per host per handler process, so that connections are pooled and the
 * per-host rate limit holds across jobs. The SSH key is read from UP_SSH_KEY_FILE once.
 */
export class HostConnector {
  private readonly executors = new Map<string, Executor>();
  private key: Buffer | null = null;

  constructor(private readonly keyFile: string | null = process.env.UP_SSH_KEY_FILE ?? null) {}

  connect(host: HostRef): Executor {
    const id = host.local
      ? `local:${host.name}`
      : `${host.user}@${host.address}:${host.port}/${host.hostKeySha256}/${host.jump?.address ?? ''}`;
    let executor = this.executors.get(id);
    if (!executor) {
      executor = host.local ? new LocalExecutor({ host: host.name }) : new SshExecutor(this.spec(host));
      this.executors.set(id, executor);
    }
    return executor;
  }

  async close(): Promise<void> {
    await Promise.all([...this.executors.values()].map((e) => e.close().catch(() => undefined)));
    this.executors.clear();
  }

  private spec(host: Omit<HostRef, 'jump' | 'local'> & { jump?: HostRef['jump'] }): HostSpec {
    return {
      name: host.name,
      address: host.address,
      port: host.port,
      username: host.user,
      privateKey: this.privateKey(),
      hostKeySha256: host.hostKeySha256,
      ...(host.jump ? { jump: this.spec(host.jump) } : {}),
    };
  }

  private privateKey(): Buffer {
    if (this.key) return this.key;
    if (!this.keyFile) throw new PermanentError('UP_SSH_KEY_FILE is not set: this handler cannot reach hosts over SSH');
    try {
      this.key = readFileSync(this.keyFile);
    } catch (error) {
      throw new PermanentError(`cannot read UP_SSH_KEY_FILE (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    return this.key;
  }
}
