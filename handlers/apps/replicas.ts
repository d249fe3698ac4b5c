/** How an app's serving replicas are looked at: by its check, and again by its repair before it acts. */
import { script, sh, type Command } from '../../lib/exec/index.ts';
import type { Static } from 'typebox';
import type { ServingReplica } from '../../queues/apps/health.ts';
import type { Problem } from '../../queues/health/checks.ts';
import { containerProbe, judgeContainer } from '../containers/health.check.container/handler.ts';

type Replica = Static<typeof ServingReplica>;

/** One section per replica: its container's state and healthcheck, then the HTTP status it answers nginx's way. */
export function replicasProbe(replicas: readonly Replica[]): Command {
  return script(
    ...replicas.flatMap((replica) => [
      sh`echo replica ${replica.key}`,
      containerProbe({ container: replica }),
      replica.endpoint
        ? // curl prints 000 when nothing answers; the last try's status is all that is kept. A lost
          // connection is tried again: netavark rewriting the network's rules as another container
          // stops can drop one, and that is not this replica failing.
          sh`echo answer $(curl -s -o /dev/null -w '%{http_code}' --connect-timeout 2 --max-time 4 --retry 2 --retry-all-errors --retry-delay 0 ${`http://${replica.endpoint}/`} 2>/dev/null | tail -c 3; true)`
        : sh`echo answer none`,
    ]),
  );
}

/** Each replica's section of the probe's output, by key. */
function sections(output: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const part of output.split(/^replica /m).slice(1)) {
    const cut = part.indexOf('\n');
    found.set(part.slice(0, cut < 0 ? undefined : cut).trim(), cut < 0 ? '' : part.slice(cut));
  }
  return found;
}

export interface ReplicaFinding {
  key: string;
  problems: Problem[];
  running: boolean;
  restarts: number;
  status: number;
}

/**
 * What each replica's section says. A replica that runs must answer HTTP on its port with
 * anything below 500 (a 404 at `/` is an app's own business); one that does not run is the
 * container's finding already.
 */
export function judgeReplicas(output: string, replicas: readonly Replica[], host: string): ReplicaFinding[] {
  const byKey = sections(output);
  return replicas.map((replica) => {
    const section = byKey.get(replica.key) ?? '';
    const { problems, state } = judgeContainer(section, { container: replica }, host);
    const running = state.status === 'running' && state.id === replica.id;
    const answer = /^answer (\S+)/m.exec(section)?.[1] ?? '000';
    const status = Number(answer) || 0;
    if (running && answer !== 'none') {
      const where = `${replica.key} on ${host} (${replica.endpoint})`;
      if (status === 0) problems.push({ cause: 'replica-not-answering', message: `${where} does not answer HTTP` });
      else if (status >= 500) problems.push({ cause: 'replica-error', message: `${where} answers ${status}` });
    }
    return { key: replica.key, problems, running, restarts: state.restarts, status };
  });
}
