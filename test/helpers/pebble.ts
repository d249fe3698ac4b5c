/**
 * pebble, the ACME test CA, for certificate tests (test/lab/pebble.sh): started per run with a
 * fresh TLS CA (for certbot: REQUESTS_CA_BUNDLE) and a fresh issuing root (for curl --cacert).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const PEBBLE_SH = fileURLToPath(new URL('../lab/pebble.sh', import.meta.url));

export interface LabPebble {
  /** The ACME directory URL (UP_ACME_DIRECTORY). */
  directory: string;
  /** The CA of pebble's own HTTPS listener (UP_ACME_CA_BUNDLE). */
  caBundle: string;
  /** The root that issued the certificates pebble hands out: what `curl --cacert` trusts. */
  root: string;
  down(): Promise<void>;
}

/** `dnsServer` (address:port) answers pebble's lookups; HTTP-01 goes to `httpPort` of the address it finds. */
export async function labPebble(address: string, dnsServer: string, httpPort: number): Promise<LabPebble> {
  const dir = await mkdtemp(join(tmpdir(), 'up-pebble-'));
  let description: { directory: string; caBundle: string; root: string };
  try {
    const { stdout } = await run(PEBBLE_SH, ['up', dir, address, dnsServer, String(httpPort)]);
    description = JSON.parse(stdout);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`pebble did not start: ${(error as { stderr?: string }).stderr || (error as Error).message}`);
  }
  let stopped = false;
  return {
    ...description,
    async down() {
      if (stopped) return;
      stopped = true;
      await run(PEBBLE_SH, ['down', dir]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
