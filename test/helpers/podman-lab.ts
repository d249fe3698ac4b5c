/**
 * Podman on a lab host: commands run over the host's own sshd (its private /var/lib/containers
 * and /etc/containers are mounted only there), and a busybox image made without a registry.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { LabHost } from './lab-hosts.ts';

const run = promisify(execFile);

/** The paths podman keeps its state in: private per lab host, as on separate machines. */
export const PODMAN_PRIVATE_DIRS = ['/etc/containers', '/var/lib/containers', '/run/containers', '/run/libpod', '/run/netns'];

export const BUSYBOX_IMAGE = 'localhost/busybox:latest';

/** Runs a shell command on the lab host as root, `input` on its stdin; rejects with its stderr when it fails. */
export function onHost(host: LabHost, command: string, timeoutMs = 60_000, input?: Buffer | string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'ssh',
      [
        '-q',
        '-i',
        host.privateKeyFile,
        '-o',
        'StrictHostKeyChecking=no',
        '-o',
        'UserKnownHostsFile=/dev/null',
        '-o',
        'BatchMode=yes',
        `root@${host.address}`,
        command,
      ],
      { timeout: timeoutMs, maxBuffer: 1 << 24 },
      (error, stdout, stderr) => (error ? reject(Object.assign(error, { stdout, stderr })) : resolve(stdout)),
    );
    child.stdin!.end(input ?? '');
  });
}

/** A root filesystem of busybox-static (httpd, nc, sh): an image in 2 MB, imported in under a second. */
function busyboxTar(): string {
  const dir = mkdtempSync(join(tmpdir(), 'up-busybox-'));
  const root = join(dir, 'rootfs');
  for (const d of ['bin', 'etc', 'proc', 'sys', 'dev', 'tmp', 'www', 'root']) mkdirSync(join(root, d), { recursive: true });
  if (!existsSync('/bin/busybox')) throw new Error('busybox-static is not installed (apt-get install busybox-static)');
  return dir;
}

export async function importBusybox(host: LabHost): Promise<void> {
  const dir = busyboxTar();
  try {
    const root = join(dir, 'rootfs');
    await run('cp', ['/bin/busybox', join(root, 'bin/busybox')]);
    const { stdout } = await run(join(root, 'bin/busybox'), ['--list']);
    for (const applet of stdout.split('\n').filter(Boolean))
      if (!existsSync(join(root, 'bin', applet))) symlinkSync('busybox', join(root, 'bin', applet));
    writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n');
    writeFileSync(join(root, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
    const tar = join(host.dir, 'busybox-rootfs.tar');
    await run('tar', ['-C', root, '-cf', tar, '.']);
    await onHost(
      host,
      `podman import --change 'CMD ["/bin/sh"]' --change 'ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin' ${tar} ${BUSYBOX_IMAGE} >/dev/null`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Removes every container, network and volume up made on the host (their processes outlive the lab's namespace otherwise). */
export async function removeContainers(host: LabHost): Promise<void> {
  await onHost(
    host,
    'podman rm -af -t 0 >/dev/null 2>&1; podman network prune -f >/dev/null 2>&1; podman volume prune -f >/dev/null 2>&1; true',
  ).catch(() => undefined);
}
