import type { Command, Executor } from '../../lib/exec/index.ts';
import { RetryableError } from '../../lib/errors.ts';
import type { CheckResult } from '../../queues/health/checks.ts';

/**
 * Runs a check's script (one round trip) and returns its stdout, or the unhealthy result a
 * host that cannot be reached deserves: not reaching it is the finding, not a failure of the check.
 */
export async function probe(
  exec: Executor,
  command: Command,
  resource: CheckResult['resource'],
  signal: AbortSignal,
): Promise<string | CheckResult> {
  try {
    return (await exec.runScript(command, { signal, timeoutMs: 20_000 })).stdout;
  } catch (error) {
    if (error instanceof RetryableError || (error as Error).name === 'HostKeyMismatchError') {
      return {
        resource,
        healthy: false,
        problems: [{ cause: 'unreachable', message: `cannot reach ${exec.host} over SSH: ${(error as Error).message}` }],
        measurements: {},
      };
    }
    throw error;
  }
}

/** `key value…` lines of a check script's output, first occurrence of each key. */
export function fields(output: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const line of output.split('\n')) {
    const cut = line.indexOf(' ');
    const key = cut < 0 ? line : line.slice(0, cut);
    if (key && !found.has(key)) found.set(key, cut < 0 ? '' : line.slice(cut + 1));
  }
  return found;
}
