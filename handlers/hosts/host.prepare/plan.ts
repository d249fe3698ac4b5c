import { sh, script, type Command } from '../../../lib/exec/index.ts';
import { dpkgQuery, installedVersions } from '../host.probe/dpkg.ts';

export { dpkgQuery };

/** Which of the wanted packages dpkg does not report as installed, given its output. */
export function missingPackages(wanted: readonly string[], dpkgOutput: string): { missing: string[]; present: string[] } {
  const installed = installedVersions(dpkgOutput);
  return { missing: wanted.filter((p) => !installed.has(p)), present: wanted.filter((p) => installed.has(p)) };
}

const APT_OPTIONS = ['-o', 'DPkg::Lock::Timeout=120', '-o', 'Dpkg::Options::=--force-confold'];

/** Installs packages without prompts or recommends; refreshes the package lists first. */
export function aptInstall(packages: readonly string[]): Command {
  return script(
    sh`export DEBIAN_FRONTEND=noninteractive`,
    sh`apt-get ${APT_OPTIONS} update -qq`,
    sh`apt-get ${APT_OPTIONS} install -y --no-install-recommends ${packages}`,
  );
}

/** Creates each missing directory and prints `created <dir>` for it, so the change is reported. */
export function ensureDirectories(directories: Readonly<Record<string, string>>): Command {
  return script(
    ...Object.entries(directories).map(
      ([dir, mode]) => sh`[ -d ${dir} ] || { mkdir -p -m ${mode} ${dir} && printf 'created\t%s\n' ${dir}; }`,
    ),
  );
}

export function createdDirectories(output: string): string[] {
  return output.split('\n').flatMap((line) => (line.startsWith('created\t') ? [line.slice('created\t'.length)] : []));
}
