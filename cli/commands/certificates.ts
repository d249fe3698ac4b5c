import { UsageError } from '../errors.ts';
import { isUuid } from '../../lib/ids.ts';
import type { CommandModule } from 'yargs';
import { CliError, UpClient } from '../client.ts';
import { group } from '../command.ts';
import { reportFanOut, type Job } from '../follow.ts';
import { emit, table } from '../output.ts';
import { waitOptions } from './jobs.ts';

type Common = Record<string, unknown>;
type Args = { wait: boolean; timeout: number } & Record<string, any>;
type Certificate = {
  id: string;
  kind: string;
  names: string[];
  website: string | null;
  proxy: string | null;
  host?: string | null;
  service?: string | null;
  challenge: string;
  status: string;
  notBefore: string | null;
  notAfter: string | null;
  issuer: string | null;
  serial: string | null;
  fingerprint: string | null;
  lastError: string | null;
  lastAttemptAt: string | null;
  failures: number;
};

/** A certificate by id, or by the website it belongs to. */
async function find(client: UpClient, ref: string): Promise<Certificate> {
  if (isUuid(ref)) return (await client.request<Certificate>('GET', `/v1/certificates/${ref}`)).body;
  const body = await client.listAll<Certificate>('/v1/certificates');
  // Site names are unique per owner: an admin may see several sites of one name.
  const found = body.filter((c) => c.website === ref);
  if (found.length === 0)
    throw new CliError(`no certificate for a website named ${ref} (give the certificate id, see \`up certificates list\`)`);
  if (found.length > 1)
    throw new CliError(`several websites named ${ref} have certificates (${found.map((c) => c.id).join(', ')}): give the certificate id`);
  return found[0];
}

const list: CommandModule<Common, Common> = {
  command: 'list',
  describe: 'certificates with their names, status and expiry',
  handler: async (_argv) => {
    const body = await UpClient.fromEnvironment().listAll<Certificate>('/v1/certificates');
    emit(body, () =>
      table(
        body.map((c) => ({
          id: c.id,
          kind: c.kind,
          for: c.website ?? c.proxy ?? (c.host ? `${c.service} on ${c.host}` : ''),
          names: c.names.join(' '),
          status: c.status,
          'not after': c.notAfter ?? '',
          error: c.lastError ?? '',
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
    emit(c, () =>
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
  builder: (y) => waitOptions(y, 300),
  handler: async (argv) => {
    const client = UpClient.fromEnvironment();
    const cert = await find(client, argv.ref);
    const { body } = await client.request<{ certificate: Certificate; job: Job }>('POST', `/v1/certificates/${cert.id}/renew`);
    await reportFanOut(client, { certificate: body.certificate, jobs: [body.job] }, argv, `${cert.names.join(' ')}: renewal`);
  },
};

const create: CommandModule<Common, Args> = {
  command: 'create',
  describe: "a certificate: a proxy group's wildcard (--proxy), or a service's on a host (admin; names in zones hosted here)",
  builder: (y) =>
    waitOptions(y, 300)
      .option('proxy', {
        type: 'string',
        describe: 'the proxy group whose wildcard certificate to ask for now (it comes on its own within 30 s)',
      })
      .option('host', { type: 'string', describe: 'the host the service runs on' })
      .option('service', { choices: ['postfix', 'dovecot', 'postgresql', 'mariadb', 'nginx'], describe: 'the service that uses it' })
      .option('name', { type: 'string', array: true, describe: 'a name on the certificate (repeat for more)' })
      .conflicts('proxy', ['host', 'service', 'name']),
  handler: async (argv) => {
    if (argv.proxy === undefined && !(argv.host && argv.service && argv.name))
      throw new UsageError(
        'give --proxy <group>, or --host, --service and --name',
        'up certificates create [options]',
        'up certificates create --help',
      );
    const client = UpClient.fromEnvironment();
    if (argv.proxy !== undefined) {
      const proxy = String(argv.proxy);
      const { body } = await client.request<{ certificate: Certificate; job: Job }>(
        'POST',
        `/v1/proxies/${encodeURIComponent(proxy)}/certificate`,
      );
      await reportFanOut(
        client,
        { certificate: body.certificate, jobs: [body.job] },
        argv,
        `proxy ${proxy}: ${body.certificate.names.join(' ')}`,
      );
      return;
    }
    const { body } = await client.request<{ certificate: Certificate; job: Job }>('POST', '/v1/certificates', {
      body: { host: argv.host, service: argv.service, names: argv.name },
    });
    await reportFanOut(
      client,
      { certificate: body.certificate, jobs: [body.job] },
      argv,
      `${argv.service} on ${argv.host}: ${body.certificate.names.join(' ')}`,
    );
  },
};

export const certificates = group('up certificates', [list, show, renew, create]);
