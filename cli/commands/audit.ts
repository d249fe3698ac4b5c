import { type Page, UpClient } from '../client.ts';
import type { CommandBody } from '../command.ts';
import { emit, table, when } from '../output.ts';

interface AuditArgs {
  user?: string;
  method?: string;
  outcome?: string;
  job?: string;
  limit: number;
  after?: string;
}

interface Entry {
  id: string;
  at: string;
  user: string | null;
  impersonator: string | null;
  tokenId: string | null;
  ip: string;
  method: string;
  route: string;
  resourceId: string | null;
  jobId: string | null;
  status: number;
  outcome: string;
}

export const audit: CommandBody<AuditArgs> = {
  builder: (y) =>
    y
      .option('user', { type: 'string', describe: 'only the requests of this user, made by them or as them (admins)' })
      .option('method', { choices: ['POST', 'PUT', 'PATCH', 'DELETE'], describe: 'only this HTTP method' })
      .option('outcome', { choices: ['ok', 'denied', 'rejected', 'error'], describe: 'only this outcome' })
      .option('job', { type: 'string', describe: 'only the request that created this job' })
      .option('limit', { type: 'number', default: 50, describe: 'entries per page (at most 500)' })
      .option('after', {
        type: 'string',
        describe: 'page cursor: the next page starts after it (the `more:` of the previous page)',
      }) as never,
  handler: async (argv) => {
    const query = new URLSearchParams({ limit: String(argv.limit) });
    if (argv.user) query.set('user', argv.user);
    if (argv.method) query.set('method', argv.method);
    if (argv.outcome) query.set('outcome', argv.outcome);
    if (argv.job) query.set('jobId', argv.job);
    if (argv.after) query.set('after', argv.after);
    const { body } = await UpClient.fromEnvironment().request<Page<Entry>>('GET', `/v1/audit?${query}`);
    emit(body, () => {
      const rows = body.items.map((e) => ({
        ...e,
        user: e.impersonator ? `${e.impersonator} as ${e.user}` : e.user,
        at: when(e.at),
        request: `${e.method} ${e.route}`,
        resource: e.resourceId,
        job: e.jobId,
      }));
      return (
        table(rows, ['at', 'user', 'ip', 'request', 'resource', 'status', 'outcome', 'job']) +
        (body.next ? `\n(more: --after ${body.next})` : '')
      );
    });
  },
};
