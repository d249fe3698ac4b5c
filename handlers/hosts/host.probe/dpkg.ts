import { sh, type Command } from '../../../lib/exec/index.ts';

// dpkg-query expands these itself; the value reaches the shell quoted, so the shell never does.
const DPKG_FORMAT = 'pkg\t${Package}\t${db:Status-Abbrev}\t${Version}\\n';

/** Lists the given packages as dpkg knows them; unknown ones simply do not appear. */
export function dpkgQuery(packages: readonly string[]): Command {
  return sh`dpkg-query -W -f=${DPKG_FORMAT} ${packages} 2>/dev/null || :`;
}

/** The versions of installed packages in dpkgQuery's output. */
export function installedVersions(output: string): Map<string, string> {
  const versions = new Map<string, string>();
  for (const line of output.split('\n')) {
    const [tag, name, status, version] = line.split('\t');
    // "ii " is installed; "rc " (removed, config left) and the rest are not.
    if (tag === 'pkg' && status?.startsWith('ii') && name && version) versions.set(name, version);
  }
  return versions;
}
