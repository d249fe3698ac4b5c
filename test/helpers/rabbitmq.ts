import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const run = promisify(execFile);
const MANAGEMENT_URL = 'http://127.0.0.1:15672';

/** The local broker without a vhost; `UP_TEST_AMQP_URL` points elsewhere. */
export const amqpBaseUrl = () => (process.env.UP_TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672').replace(/\/+$/, '');

export function rabbitmqctl(...args: string[]): Promise<{ stdout: string }> {
  return run('rabbitmqctl', ['--quiet', ...args]);
}

/** A throwaway vhost, so a test never sees another's queues; cleanup deletes it with everything in it. */
export async function freshVhost(): Promise<{ url: string; vhost: string; cleanup(): Promise<void> }> {
  const vhost = `up-test-${randomBytes(4).toString('hex')}`;
  await rabbitmqctl('add_vhost', vhost);
  await rabbitmqctl('set_permissions', '-p', vhost, 'guest', '.*', '.*', '.*');
  return {
    url: `${amqpBaseUrl()}/${encodeURIComponent(vhost)}`,
    vhost,
    async cleanup() {
      await rabbitmqctl('delete_vhost', vhost);
    },
  };
}

/** The management API's base URL when the plugin answers, else undefined. */
export async function managementUrl(): Promise<string | undefined> {
  try {
    await fetch(MANAGEMENT_URL, { signal: AbortSignal.timeout(1_000) });
    return MANAGEMENT_URL;
  } catch {
    return undefined;
  }
}
