import type { CommandModule } from 'yargs';
import { UpClient } from '../client.ts';
import { reportFanOut, type Job } from '../follow.ts';
import { emit, table } from '../output.ts';

type Common = { json: boolean };
type Args = Common & { wait: boolean; timeout: number } & Record<string, any>;
type Certificate = {
  id: string; kind: string; names: string[]; website: string | null; proxy: string | null; host?: string | null; service?: string | null; challenge: string; status: string;
  notBefore: string | null; notAfter: string | null; issuer: string | null; serial: string | null; fingerprint: string | null;
  lastError: string | null; lastAttemptAt: string | null; failures: number;
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A certificate by id, or by the website it belongs to. */
async function find(client: UpClient, ref: string): Promise<Certificate> {
  if (UUID.test(ref)) return (await client.request<Certificate>('GET', `/v1/certificates/${ref}`)).body;
  const { body } = await client.request<Certificate[]>('GET', '/v1/certificates');
  const found = body.find((c) => c.website === ref);
  if (!found) throw new Error(`no certificate for a website named ${ref} (give the certificate id, see \`up certs list\`)`);
  return found;
}

const list: CommandModule<Common, Common> = {
  command: 'list',
  describe: 'certificates with their names, status and expiry',
  handler: async (argv) => {
    const { body } = await UpClient.fromEnvironment().request<Certificate[]>('GET', '/v1/certificates');
    emit(argv.json, body, () =>
      table(
        body.map((c) => ({
          id: c.id, kind: c.kind, for: c.website ?? c.proxy ?? (c.host ? `${c.service} on ${c.host}` : ''), names: c.names.join(' '), status: c.status, 'not after': c.notAfter ?? '', error: c.lastError ?? '',
        })),
        ['id', 'kind', 'for', 'names', 'status', 'not after', 'error'],
      ),
    );
  },
};

const show: CommandModule<Common, Args> = {
  command: 'show <ref>',
  describe: 'one certificate (by id or website name)',
  handler: async (argv) => {
    const c = await find(UpClient.fromEnvironment(), argv.ref);
    emit(argv.json, c, () =>
      [
        `id          ${c.id}`,
        `kind        ${c.kind}${c.website ? ` of website ${c.website}` : ''}${c.proxy ? ` on proxy ${c.proxy}` : ''}${c.host ? ` for ${c.service} on host ${c.host}` : ''}`,
        `names       ${c.names.join(' ')}`,
        `challenge   ${c.challenge}`,
        `status      ${c.status}${c.failures ? ` (${c.failures} failed attempts)` : ''}`,
        `valid       ${c.notBefore ?? '-'} .. ${c.notAfter ?? '-'}`,
        `issuer      ${c.issuer ?? '-'}`,
        `serial      ${c.serial ?? '-'}`,
        `sha256      ${c.fingerprint ?? '-'}`,
        ...(c.lastError ? [`last error  ${c.lastError}`] : []),
      ].join('\n'),
    );
  },
};

const renew: CommandModule<Common, Args> = {
  command: 'renew <ref>',
  describe: 'renew a certificate now (by id or website name)',
  builder: (y) => y.option('wait', { type: 'boolean', default: false }).option('timeout', { type: 'number', default: 300 }),
  handler: async (argv) => {
    const client = UpClient.fromEnvironment();
    const cert = await find(client, argv.ref);
    const { body } = await client.request<{ certificate: Certificate; job: Job }>('POST', `/v1/certificates/${cert.id}/renew`);
    await reportFanOut(client, { certificate: body.certificate, jobs: [body.job] }, argv, `${cert.names.join(' ')}: renewal`);
  },
};

const create: CommandModule<Common, Args> = {
  command: 'create',
  describe: "a certificate for a service on a host (admin; names in zones hosted here)",
  builder: (y) =>
    y
      .option('host', { type: 'string', demandOption: true, describe: 'the host the service runs on' })
      .option('service', { type: 'string', demandOption: true, describe: 'postfix | dovecot | postgresql | mariadb | nginx' })
      .option('name', { type: 'string', array: true, demandOption: true, describe: 'a name on the certificate (repeat for more)' })
      .option('wait', { type: 'boolean', default: false })
      .option('timeout', { type: 'number', default: 300 }),
  handler: async (argv) => {
    const client = UpClient.fromEnvironment();
    const { body } = await client.request<{ certificate: Certificate; job: Job }>('POST', '/v1/certificates', { body: { host: argv.host, service: argv.service, names: argv.name } });
    await reportFanOut(client, { certificate: body.certificate, jobs: [body.job] }, argv, `${argv.service} on ${argv.host}: ${body.certificate.names.join(' ')}`);
  },
};

export const certs: CommandModule<Common, Common> = {
  command: 'certs <command>',
  describe: 'TLS certificates kept by certbot: sites, proxy wildcards and host services',
  builder: (y) => y.command([list, show, renew, create] as never).demandCommand(1),
  handler: () => undefined,
};
