import { script, sh } from '../../../lib/exec/index.ts';
import type { Problem } from '../../../queues/health/checks.ts';
import { healthCheckProxy } from '../../../queues/proxies/health.ts';
import { defineHandler } from '../../runtime/define.ts';
import { fields, probe } from '../../runtime/probe.ts';
import { nginxCmd, nginxPaths, type NginxPaths } from '../nginx.ts';

/** One round trip: is the master alive, does `nginx -t` pass, which generation did this member apply. */
export function proxyProbe(paths: NginxPaths) {
  return script(
    sh`if pid=$(cat ${paths.pid} 2>/dev/null) && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then echo running yes; else echo running no; fi`,
    sh`if out=$(${nginxCmd(paths)} -t 2>&1); then echo config ok; else echo config bad; printf '%s\n' "$out" | grep -E '\[emerg\]|\[alert\]' | head -n 3 | sed 's/^/nginx /'; fi`,
    sh`echo generation $(cat ${`${paths.state}/proxy.generation`} 2>/dev/null || echo none)`,
  );
}

export default defineHandler({
  op: healthCheckProxy,
  async run({ resource, host, layout, generation }, { connect, signal }) {
    const exec = connect(host);
    const output = await probe(exec, proxyProbe(nginxPaths(layout.baseDir)), resource, signal);
    if (typeof output !== 'string') return output;
    const found = fields(output);
    const complaint = output
      .split('\n')
      .filter((l) => l.startsWith('nginx '))
      .map((l) => l.slice(6))
      .join('; ');
    const applied = Number(found.get('generation'));
    const problems: Problem[] = [];
    const invalid = found.get('config') !== 'ok' ? `nginx -t fails on ${exec.host}: ${complaint || 'no reason given'}` : null;
    // One cause for one broken nginx: stopped (saying why it cannot start), or running on an invalid configuration.
    if (found.get('running') !== 'yes') {
      problems.push({
        cause: 'nginx-stopped',
        message: `nginx of proxy group ${layout.group} is not running on ${exec.host}${invalid ? ` (${invalid})` : ''}`.slice(0, 2000),
      });
    } else if (invalid) {
      problems.push({ cause: 'config-invalid', message: invalid.slice(0, 2000) });
    }
    if (!Number.isInteger(applied) || applied < generation) {
      problems.push({
        cause: 'generation-behind',
        message: `${exec.host} applied generation ${found.get('generation')} of proxy group ${layout.group}, the group is at ${generation}`,
      });
    }
    return { resource, healthy: problems.length === 0, problems, measurements: { generation: Number.isInteger(applied) ? applied : 0 } };
  },
});
