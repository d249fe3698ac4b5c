import { readdirSync, readFileSync } from 'node:fs';

const TICK_MS = 10; // USER_HZ is 100 on Linux

/** CPU time (ms) used so far by each named process group: our roles by pid, the daemons by name. */
export function cpuByGroup(roles: Record<string, number>): Record<string, number> {
  const totals: Record<string, number> = {};
  const add = (group: string, ms: number) => (totals[group] = (totals[group] ?? 0) + ms);
  const byPid = new Map(Object.entries(roles).map(([name, pid]) => [pid, name]));
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ms = (Number(fields[11]) + Number(fields[12])) * TICK_MS; // utime + stime
    const role = byPid.get(Number(entry));
    if (role) add(role, ms);
    else if (Number(entry) === process.pid) add('bench', ms);
    else if (comm === 'beam.smp' || comm.startsWith('erl_')) add('rabbitmq', ms);
    else if (comm === 'postgres') add('postgres', ms);
  }
  return totals;
}

/** CPU milliseconds per job spent by each group between two snapshots. */
export function cpuPerJob(before: Record<string, number>, after: Record<string, number>, jobs: number): Record<string, number> {
  return Object.fromEntries(
    Object.keys(after)
      .filter((group) => after[group] - (before[group] ?? 0) > 0)
      .map((group) => [group, Math.round(((after[group] - (before[group] ?? 0)) / jobs) * 1000) / 1000]),
  );
}
