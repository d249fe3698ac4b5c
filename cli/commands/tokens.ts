import type { CommandModule } from 'yargs';
import { CliError, UpClient } from '../client.ts';
import { emit, table, when } from '../output.ts';

interface Common {
  json: boolean;
}

interface TokenView {
  id: string;
  name: string;
  user: string;
  scopes: string[];
  allowFrom: string[];
  status: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  secret?: string;
}

const create: CommandModule<Common, Common & { name: string; scope: string[]; days: number; allowFrom: string[]; rate?: number; user?: string }> = {
  command: 'create <name>',
  describe: 'create a token; its secret is printed once',
  builder: (y) =>
    y
      .positional('name', { type: 'string', describe: 'what the token is for' })
      .option('scope', { type: 'array', string: true, choices: ['read', 'write'], default: ['read', 'write'] })
      .option('days', { type: 'number', default: 90, describe: 'days until it expires' })
      .option('allow-from', { type: 'array', string: true, default: [], describe: 'CIDRs it works from (IPv4 or IPv6)' })
      .option('rate', { type: 'number', describe: 'requests per minute' })
      .option('user', { type: 'string', describe: 'admins: for this user' }) as never,
  handler: async (argv) => {
    const body = {
      name: argv.name,
      scopes: argv.scope,
      expiresInDays: argv.days,
      allowFrom: argv.allowFrom,
      ...(argv.rate !== undefined ? { ratePerMinute: argv.rate } : {}),
      ...(argv.user ? { user: argv.user } : {}),
    };
    const { body: token } = await UpClient.fromEnvironment().request<TokenView>('POST', '/v1/tokens', { body });
    emit(argv.json, token, () => `token ${token.id} for ${token.user} (${token.scopes.join(', ')}, expires ${when(token.expiresAt)})\n\n  ${token.secret}\n\nShown once: store it now (e.g. \`up login --token ...\`).`);
  },
};

const list: CommandModule<Common, Common & { user?: string }> = {
  command: 'list',
  describe: 'your tokens (admins: everyone\'s)',
  builder: (y) => y.option('user', { type: 'string', describe: 'admins: only this user\'s' }) as never,
  handler: async (argv) => {
    const query = argv.user ? `?user=${encodeURIComponent(argv.user)}` : '';
    const { body } = await UpClient.fromEnvironment().request<{ items: TokenView[] }>('GET', `/v1/tokens${query}`);
    emit(argv.json, body, () =>
      table(
        body.items.map((t) => ({ ...t, scopes: t.scopes.join(','), allowFrom: t.allowFrom.join(','), expires: when(t.expiresAt), used: when(t.lastUsedAt) })),
        ['id', 'name', 'user', 'scopes', 'status', 'expires', 'used', 'allowFrom'],
      ),
    );
  },
};

const revoke: CommandModule<Common, Common & { id: string }> = {
  command: 'revoke <id>',
  describe: 'revoke a token: it stops working at once',
  handler: async (argv) => {
    const { body } = await UpClient.fromEnvironment().request<TokenView>('DELETE', `/v1/tokens/${encodeURIComponent(argv.id)}`);
    emit(argv.json, body, () => `token ${body.id} (${body.name}) ${body.status}`);
  },
};

export const tokens: CommandModule<Common, Common> = {
  command: 'tokens <command>',
  describe: 'create, list and revoke API tokens',
  builder: (y) => y.command([create, list, revoke] as never).demandCommand(1),
  handler: () => {
    throw new CliError('choose a tokens command');
  },
};
