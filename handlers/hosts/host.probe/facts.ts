import type { Static } from 'typebox';
import { sh, script, type Command } from '../../../lib/exec/index.ts';
import { PROBED_SOFTWARE, type HostFacts } from '../../../queues/hosts/probe.ts';
import { dpkgQuery, installedVersions } from './dpkg.ts';

/**
 * Everything host.probe asks, as one script: one round trip, tab-separated `key value` lines.
 * Missing tools print nothing for their line rather than failing the whole probe.
 */
export function probeScript(): Command {
  const packages = Object.values(PROBED_SOFTWARE);
  return script(
    sh`printf 'os_id\t%s\n' "$(sed -n 's/^ID=//p' /etc/os-release 2>/dev/null || :)"`,
    sh`printf 'os_name\t%s\n' "$(sed -n 's/^PRETTY_NAME=//p' /etc/os-release 2>/dev/null || :)"`,
    sh`printf 'kernel\t%s\n' "$(uname -r)"`,
    sh`printf 'arch\t%s\n' "$(uname -m)"`,
    sh`printf 'hostname\t%s\n' "$(uname -n)"`,
    sh`printf 'uptime\t%s\n' "$(cut -d' ' -f1 /proc/uptime 2>/dev/null || :)"`,
    sh`printf 'load\t%s\n' "$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || :)"`,
    sh`printf 'cpus\t%s\n' "$(nproc 2>/dev/null || :)"`,
    sh`awk '/^(MemTotal|MemAvailable):/ { printf "%s\t%s\n", $1, $2 }' /proc/meminfo 2>/dev/null || :`,
    sh`df -kP / | awk 'NR == 2 { printf "disk\t%s %s %s\n", $2, $3, $4 }'`,
    dpkgQuery(packages),
  );
}

type Facts = Static<typeof HostFacts>;

const number = (text: string | undefined): number | null => {
  const value = Number.parseFloat(text ?? '');
  return Number.isFinite(value) ? value : null;
};
const kbToMb = (text: string | undefined) => {
  const kb = number(text);
  return kb === null ? null : Math.round(kb / 1024);
};
const unquote = (text = '') => text.replace(/^"(.*)"$/, '$1');

/** The probe script's output as facts. */
export function parseFacts(output: string): Facts {
  const values = new Map<string, string>();
  for (const line of output.split('\n')) {
    const tab = line.indexOf('\t');
    if (tab > 0 && !line.startsWith('pkg\t')) values.set(line.slice(0, tab).replace(/:$/, ''), line.slice(tab + 1).trim());
  }
  const versions = installedVersions(output);
  const [diskTotal, diskUsed, diskAvailable] = (values.get('disk') ?? '').split(' ');
  return {
    os: {
      id: unquote(values.get('os_id')),
      name: unquote(values.get('os_name')),
      kernel: values.get('kernel') ?? '',
      arch: values.get('arch') ?? '',
    },
    hostname: values.get('hostname') ?? '',
    uptimeSeconds: number(values.get('uptime')),
    load: (values.get('load') ?? '')
      .split(' ')
      .map(number)
      .filter((n): n is number => n !== null),
    cpus: number(values.get('cpus')),
    memory: { totalMb: kbToMb(values.get('MemTotal')), availableMb: kbToMb(values.get('MemAvailable')) },
    disk: { path: '/', totalMb: kbToMb(diskTotal), usedMb: kbToMb(diskUsed), availableMb: kbToMb(diskAvailable) },
    software: Object.fromEntries(Object.entries(PROBED_SOFTWARE).map(([name, pkg]) => [name, versions.get(pkg) ?? null])),
  };
}
