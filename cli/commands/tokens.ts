import type { CommandModule } from 'yargs';
import { UpClient } from '../client.ts';
import { group } from '../command.ts';
import { confirm, yesOption } from '../confirm.ts';
import { emit, table, when } from '../output.ts';

type Common = Record<string, unknown>;

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

const create: CommandModule<Common, { name: string; scope?: string[]; days?: number; allowFrom?: string[]; rate?: number; user?: string }> =
  {
    command: 'create <name>',
    describe: 'create a token; its secret is printed once',
    builder: (y) =>
      y
        .positional('name', { type: 'string', describe: 'what the token is for' })
        // Left out, each is inherited from the token in use (a new token is never broader than it).
        .option('scope', { type: 'array', string: true, choices: ['read', 'write'], describe: 'default: the scopes of the token in use' })
        .option('days', { type: 'number', describe: 'days until it expires (default 90, or when the token in use expires)' })
        .option('allow-from', {
          type: 'array',
          string: true,
          describe: 'CIDRs it works from (IPv4 or IPv6); default: those of the token in use',
        })
        .option('rate', { type: 'number', describe: 'requests per minute; default: that of the token in use' })
        .option('user', { type: 'string', describe: 'admins: for this user' }) as never,
    handler: async (argv) => {
      const body = {
        name: argv.name,
        ...(argv.scope ? { scopes: argv.scope } : {}),
        ...(argv.days !== undefined ? { expiresInDays: argv.days } : {}),
        ...(argv.allowFrom ? { allowFrom: argv.allowFrom } : {}),
        ...(argv.rate !== undefined ? { ratePerMinute: argv.rate } : {}),
        ...(argv.user ? { user: argv.user } : {}),
      };
      const { body: token } = await UpClient.fromEnvironment().request<TokenView>('POST', '/v1/tokens', { body });
      emit(
        token,
        () =>
          `token ${token.id} for ${token.user} (${token.scopes.join(', ')}, expires ${when(token.expiresAt)})\n\n  ${token.secret}\n\nShown once: store it now (e.g. pipe it to \`up login --context <name>\`).`,
      );
    },
  };

const list: CommandModule<Common, { user?: string }> = {
  command: 'list',
  describe: "your tokens (admins: everyone's)",
  builder: (y) => y.option('user', { type: 'string', describe: "admins: only this user's" }) as never,
  handler: async (argv) => {
    const query = argv.user ? `?user=${encodeURIComponent(argv.user)}` : '';
    const body = { items: await UpClient.fromEnvironment().listAll<TokenView>(`/v1/tokens${query}`) };
    emit(body, () =>
      table(
        body.items.map((t) => ({
          ...t,
          scopes: t.scopes.join(','),
          allowFrom: t.allowFrom.join(','),
          expires: when(t.expiresAt),
          used: when(t.lastUsedAt),
        })),
        ['id', 'name', 'user', 'scopes', 'status', 'expires', 'used', 'allowFrom'],
      ),
    );
  },
};

const revoke: CommandModule<Common, { id: string; yes: boolean }> = {
  command: 'revoke <id>',
  describe: 'revoke a token: it stops working at once',
  builder: (y) => yesOption(y) as never,
  handler: async (argv) => {
    await confirm(`revoke token ${argv.id}? Whatever uses it stops working at once`, { yes: argv.yes });
    const { body } = await UpClient.fromEnvironment().request<TokenView>('DELETE', `/v1/tokens/${encodeURIComponent(argv.id)}`);
    emit(body, () => `token ${body.id} (${body.name}) ${body.status}`);
  },
};

export const tokens = group('up tokens', [create, list, revoke]);
