import { script, sh, type Command } from '../../../lib/exec/index.ts';
import type { Problem } from '../../../queues/health/checks.ts';
import { healthCheckMailHost } from '../../../queues/mail/health.ts';
import type { PayloadOf } from '../../../queues/operation.ts';
import { defineHandler } from '../../runtime/define.ts';
import { fields, probe } from '../../runtime/probe.ts';
import { tlsProbe } from '../../runtime/tls-probe.ts';
import { DKIM_PENDING_FILE, DOVECOT_PID, GENERATION_FILE, OPENDKIM_PID, SUMS_FILE } from '../maps.ts';
import { probeLogin } from '../probe-mailbox.ts';

type Layout = PayloadOf<typeof healthCheckMailHost>['layout'];

/**
 * One round trip: daemons (postfix, dovecot, opendkim), TLS on 25/587/993, a login over IMAPS as
 * the host's probe mailbox, queue length, generation, and the files against what mail.apply wrote.
 */
export function mailProbe(layout: Layout): Command {
  const cert = (service: string) => `${layout.tlsDir}/${service}/fullchain.pem`;
  return script(
    sh`if postfix status >/dev/null 2>&1; then echo postfix yes; else echo postfix no; fi`,
    sh`if [ -s ${DOVECOT_PID} ] && kill -0 "$(cat ${DOVECOT_PID})" 2>/dev/null; then echo dovecot yes; else echo dovecot no; fi`,
    sh`if [ -s ${OPENDKIM_PID} ] && kill -0 "$(cat ${OPENDKIM_PID})" 2>/dev/null; then echo opendkim yes; else echo opendkim no; fi`,
    sh`echo dkim-pending $(cat ${DKIM_PENDING_FILE} 2>/dev/null || echo 0)`,
    sh`echo generation $(cat ${GENERATION_FILE} 2>/dev/null || echo none)`,
    sh`if [ -s ${SUMS_FILE} ] && sha256sum -c --quiet ${SUMS_FILE} >/dev/null 2>&1; then echo files ok; else echo files drift; fi`,
    sh`echo queue $(postqueue -j 2>/dev/null | wc -l)`,
    tlsProbe('smtp', `127.0.0.1:${layout.ports.smtp}`, 'smtp', cert('postfix')),
    tlsProbe('submission', `127.0.0.1:${layout.ports.submission}`, 'smtp', cert('postfix')),
    tlsProbe('imaps', `127.0.0.1:${layout.ports.imaps}`, null, cert('dovecot')),
    probeLogin(layout.ports.imaps),
  );
}

export default defineHandler({
  op: healthCheckMailHost,
  async run({ resource, host, layout, generation, queueMax }, { connect, signal }) {
    const exec = connect(host);
    const output = await probe(exec, mailProbe(layout), resource, signal);
    if (typeof output !== 'string') return output;
    const found = fields(output);
    const problems: Problem[] = [];
    // opendkim stopped: mail still flows, unsigned (postfix's milter_default_action), so it is a problem of its own.
    for (const daemon of ['postfix', 'dovecot', 'opendkim'])
      if (found.get(daemon) !== 'yes') problems.push({ cause: `${daemon}-stopped`, message: `${daemon} is not running on ${exec.host}` });
    for (const listener of ['smtp', 'submission', 'imaps']) {
      const [served, installed] = (found.get(`tls-${listener}`) ?? 'none none').split(' ');
      if (served === 'none') problems.push({ cause: 'tls-down', message: `${listener} on ${exec.host} does not answer with TLS` });
      else if (served !== installed)
        problems.push({
          cause: 'certificate-mismatch',
          message: `${listener} on ${exec.host} serves another certificate than the one installed`,
        });
    }
    // TLS answering is not enough: dovecot's authentication and mail storage must let a user in.
    if (found.get('imap-login') !== 'ok')
      problems.push({ cause: 'imap-login-failed', message: `the probe mailbox cannot log in over IMAPS on ${exec.host}` });
    const applied = Number(found.get('generation'));
    if (!Number.isInteger(applied) || applied < generation)
      problems.push({
        cause: 'generation-behind',
        message: `${exec.host} applied mail generation ${found.get('generation')}, PostgreSQL is at ${generation}`,
      });
    if (found.get('files') !== 'ok')
      problems.push({ cause: 'maps-drift', message: `the mail configuration or maps on ${exec.host} differ from what up wrote` });
    const pending = Number(found.get('dkim-pending') ?? 0);
    // The repair (an apply) makes the next ones.
    if (pending > 0)
      problems.push({
        cause: 'dkim-keys-pending',
        message: `${pending} mail domains on ${exec.host} wait for their DKIM key (unsigned until then)`,
      });
    const queue = Number(found.get('queue') ?? 0);
    if (queue > queueMax)
      problems.push({ cause: 'queue-long', message: `${queue} messages wait in the mail queue of ${exec.host} (over ${queueMax})` });
    return {
      resource,
      healthy: problems.length === 0,
      problems,
      measurements: { generation: Number.isInteger(applied) ? applied : 0, queue },
    };
  },
});
