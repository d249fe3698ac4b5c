import type { CommandModule } from 'yargs';
import { UpClient } from '../client.ts';
import { emit, table, when } from '../output.ts';

interface AuditArgs {
  json: boolean;
  user?: string;
  method?: string;
  outcome?: string;
  job?: string;
  limit: number;
  before?: string;
}

interface Entry {
  id: string;
  at: string;
  user: string | null;
  tokenId: string | null;
  ip: string;
  method: string;
  route: string;
  resourceId: string | null;
  jobId: string | null;
  status: number;
  outcome: string;
}

export const audit: CommandModule<{ json: boolean }, AuditArgs> = {
  command: 'audit',
  describe: 'who changed what, newest first (admins: everyone; users: themselves)',
  builder: (y) =>
    y
      .option('user', { type: 'string', describe: 'only this user (admins)' })
      .option('method', { choices: ['POST', 'PUT', 'PATCH', 'DELETE'] })
      .option('outcome', { choices: ['ok', 'denied', 'rejected', 'error'] })
      .option('job', { type: 'string', describe: 'only the request that created this job' })
      .option('limit', { type: 'number', default: 50 })
      .option('before', { type: 'string', describe: 'page cursor (the `next` of the previous page)' }) as never,
  handler: async (argv) => {
    const query = new URLSearchParams({ limit: String(argv.limit) });
    if (argv.user) query.set('user', argv.user);
    if (argv.method) query.set('method', argv.method);
    if (argv.outcome) query.set('outcome', argv.outcome);
    if (argv.job) query.set('jobId', argv.job);
    if (argv.before) query.set('before', argv.before);
    const { body } = await UpClient.fromEnvironment().request<{ items: Entry[]; next: string | null }>('GET', `/v1/audit?${query}`);
    emit(argv.json, body, () => {
      const rows = body.items.map((e) => ({ ...e, at: when(e.at), request: `${e.method} ${e.route}`, resource: e.resourceId, job: e.jobId }));
      return table(rows, ['at', 'user', 'ip', 'request', 'resource', 'status', 'outcome', 'job']) + (body.next ? `\n(more: --before ${body.next})` : '');
    });
  },
};
