import { script, sh } from '../../../lib/exec/index.ts';
import type { Problem } from '../../../queues/health/checks.ts';
import { healthCheckWebsite } from '../../../queues/websites/health.ts';
import type { PayloadOf } from '../../../queues/operation.ts';
import { defineHandler } from '../../runtime/define.ts';
import { fields, probe } from '../../runtime/probe.ts';
import { nginxPaths } from '../../proxies/nginx.ts';
import { sitePaths } from '../website.apply/view.ts';

type Payload = PayloadOf<typeof healthCheckWebsite>;

/** What nginx answers when no upstream does. */
const GATEWAY_ERRORS = [502, 503, 504];

/** What the default server answers for a name no vhost claims (templates/nginx/nginx.conf.mustache). */
const DEFAULT_SERVER_BODY = 'no such site';

/**
 * One round trip: is nginx up, the vhost's first line (its id and generation), whether the
 * document root holds any file, and what the site answers on the host itself (to 127.0.0.1
 * with the temporary domain as Host), last.
 */
export function websiteProbe({ layout, site }: Pick<Payload, 'layout' | 'site'>) {
  const paths = nginxPaths(layout.baseDir);
  return script(
    sh`if pid=$(cat ${paths.pid} 2>/dev/null) && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then echo running yes; else echo running no; fi`,
    sh`echo vhost $(head -n 1 ${sitePaths(layout, site.key).vhost} 2>/dev/null || echo missing)`,
    // Any file at all: a member that lost (or never got) the site's content has none.
    sh`echo files $(find ${sitePaths(layout, site.key).docRoot} -type f 2>/dev/null | head -n 1 | wc -l)`,
    sh`echo answer`,
    sh`curl -s --max-time 5 -H ${`Host: ${site.tempDomain}`} -w '\nup-status %{http_code}\n' ${`http://127.0.0.1:${layout.httpPort}/`} 2>/dev/null | tail -c 2000 || true`,
  );
}

/** Reads the probe's output into problems; `proxy-down` is the proxy check's to repair, not the site's. */
export function judgeWebsite(
  output: string,
  { layout, site }: Pick<Payload, 'layout' | 'site'>,
  host: string,
): { problems: Problem[]; status: number; generation: number } {
  const found = fields(output);
  const answer = output.slice(output.indexOf('\nanswer\n') + 8);
  const status = Number(/up-status (\d{3})\s*$/.exec(answer)?.[1] ?? 0);
  const body = answer.slice(0, answer.lastIndexOf('\nup-status')).trim();
  const header = /^# up website (\S+) generation (\d+) /.exec(found.get('vhost') ?? '');
  const generation = header?.[1] === site.id ? Number(header[2]) : 0;
  const where = `${site.tempDomain} on ${host}`;
  const problems: Problem[] = [];
  if (found.get('running') !== 'yes')
    problems.push({
      cause: 'proxy-down',
      message: `nginx of proxy group ${layout.group} is not running on ${host}, so ${site.tempDomain} is not served there`,
    });
  if (found.get('vhost') === 'missing') problems.push({ cause: 'vhost-missing', message: `the vhost of ${where} is missing` });
  else if (generation < site.generation)
    problems.push({
      cause: 'vhost-stale',
      message: `the vhost of ${where} is not generation ${site.generation} of this site (its first line: ${(found.get('vhost') ?? '').slice(0, 200)})`,
    });
  if (site.content && found.get('files') === '0')
    problems.push({
      cause: 'content-missing',
      message: `the document root of ${where} is empty (it answers ${status || 'nothing'}), though content was deployed`,
    });
  if (found.get('running') === 'yes') {
    if (status === 0) problems.push({ cause: 'not-answering', message: `${where} does not answer HTTP` });
    else if (site.app && GATEWAY_ERRORS.includes(status))
      problems.push({ cause: 'app-down', message: `${where} answers ${status}: its app's replicas do not answer nginx` });
    else if (status >= 500) problems.push({ cause: 'server-error', message: `${where} answers ${status}` });
    else if (status === 404 && body === DEFAULT_SERVER_BODY)
      problems.push({ cause: 'not-served', message: `${where} answers with nginx's default server (no such site)` });
  }
  return { problems, status, generation };
}

export default defineHandler({
  op: healthCheckWebsite,
  async run(payload, { connect, signal }) {
    const exec = connect(payload.host);
    const output = await probe(exec, websiteProbe(payload), payload.resource, signal);
    if (typeof output !== 'string') return output;
    const { problems, status, generation } = judgeWebsite(output, payload, exec.host);
    return { resource: payload.resource, healthy: problems.length === 0, problems, measurements: { status, generation } };
  },
});
