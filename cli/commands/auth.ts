import { read } from 'read';
import type { CommandModule } from 'yargs';
import { normalizeUrl, resolveTarget, UpClient } from '../client.ts';
import { group, type CommandBody } from '../command.ts';
import { confirm, yesOption } from '../confirm.ts';
import { checkContextName, configFile, DEFAULT_CONTEXT, readConfig, writeConfig, type ConfigFile } from '../contexts.ts';
import { CliError, EXIT_CONFIG } from '../errors.ts';
import { emit, table } from '../output.ts';

interface Me {
  name: string;
  role: string;
  tokenId: string | null;
  scopes?: string[];
}

/** The part of a token that names it (`up_<id>_…`): never the secret. */
const redacted = (token: string) =>
  /^up_[0-9a-f]{32}_/.test(token) ? `${token.slice(0, 36)}…` : '(a token without an id: the bootstrap admin token?)';

/** The token for `up login`: --token, UP_TOKEN, one line piped on stdin, or typed at a hidden prompt. */
async function tokenToStore(option: string | undefined): Promise<string> {
  if (option !== undefined) {
    if (!option.trim()) throw new CliError('--token is empty');
    return option.trim();
  }
  const env = process.env.UP_TOKEN;
  if (env !== undefined) {
    if (!env.trim()) throw new CliError('UP_TOKEN is set but empty: unset it, or give the token with --token or on stdin', EXIT_CONFIG);
    return env.trim();
  }
  let token: string;
  if (process.stdin.isTTY) {
    token = await read({ prompt: 'token: ', silent: true, replace: '', output: process.stderr });
  } else {
    let text = '';
    for await (const chunk of process.stdin) text += chunk;
    token = text.split('\n', 1)[0] ?? '';
  }
  if (!token.trim()) throw new CliError('no token: pass --token, set UP_TOKEN, pipe it on stdin, or type it at the prompt');
  return token.trim();
}

const login: CommandBody<{ url?: string; token?: string; context?: string }> = {
  builder: (y) =>
    y
      .option('url', { type: 'string', describe: "the gateway, e.g. https://up.example.net (default: UP_URL, else the context's)" })
      .option('token', {
        type: 'string',
        describe:
          'the API token (default: UP_TOKEN, else one line on stdin, else a prompt); prefer stdin: the command line is visible to others',
      })
      .epilogue(
        'The token is checked with the gateway, then stored with the URL as the context named by --context (default: the current one, else "default"), which becomes the current one.',
      ),
  handler: async (argv) => {
    const config = readConfig();
    const name = checkContextName(argv.context ?? config.current ?? DEFAULT_CONTEXT);
    const envUrl = process.env.UP_URL;
    if (envUrl !== undefined && !envUrl.trim() && argv.url === undefined) throw new CliError('UP_URL is set but empty', EXIT_CONFIG);
    const url = normalizeUrl(
      argv.url ?? (envUrl?.trim() || config.contexts[name]?.url || `http://127.0.0.1:${process.env.UP_HTTP_PORT?.trim() || 8470}`),
      argv.url !== undefined ? '--url' : 'the URL',
    );
    const token = await tokenToStore(argv.token);
    const { body: me } = await new UpClient(url, token).request<Me>('GET', '/v1/whoami');
    config.contexts[name] = { url, token, user: me.name, role: me.role };
    config.current = name;
    const file = writeConfig(config);
    emit(
      { context: name, url, user: me.name, role: me.role, file },
      () => `logged in as ${me.name} (${me.role}) at ${url}; stored as context "${name}" (now the current one) in ${file}`,
    );
  },
};

/** The context named by --context, else the current one; an error when there is none. */
function chosenContext(config: ConfigFile, name: string | undefined): string {
  const chosen = name ?? config.current;
  if (!chosen) throw new CliError('no current context: name one (see `up context list`)', EXIT_CONFIG);
  if (!config.contexts[checkContextName(chosen)])
    throw new CliError(`no context named ${JSON.stringify(chosen)} (see \`up context list\`)`, EXIT_CONFIG);
  return chosen;
}

const logout: CommandBody<{ context?: string; revoke: boolean }> = {
  builder: (y) =>
    y.option('revoke', {
      type: 'boolean',
      default: false,
      describe: 'also revoke the token at the gateway, so that it stops working everywhere',
    }),
  handler: async (argv) => {
    const config = readConfig();
    const name = chosenContext(config, argv.context);
    const { url, token } = config.contexts[name]!;
    let revoked: string | null = null;
    if (argv.revoke) {
      const client = new UpClient(url, token);
      const { body: me } = await client.request<Me>('GET', '/v1/whoami');
      if (!me.tokenId) throw new CliError('this is the bootstrap admin token: it cannot be revoked (change UP_ADMIN_TOKEN on the server)');
      await client.request('DELETE', `/v1/tokens/${encodeURIComponent(me.tokenId)}`);
      revoked = me.tokenId;
    }
    delete config.contexts[name];
    if (config.current === name) config.current = null;
    writeConfig(config);
    emit(
      { context: name, url, revoked },
      () =>
        `logged out of "${name}" (${url}): its token is forgotten here${revoked ? ` and revoked (${revoked})` : '; it still works until it expires (`up logout --revoke`, or `up tokens revoke <id>`)'}`,
    );
  },
};

const whoami: CommandBody<{ context?: string; as?: string }> = {
  handler: async (argv) => {
    const target = resolveTarget(process.env, readConfig(), { context: argv.context });
    const { body: me } = await UpClient.fromEnvironment().request<Me>('GET', '/v1/whoami');
    emit({ ...me, url: target.url, credentials: target.source, as: argv.as ?? null }, () =>
      [
        `user     ${me.name} (${me.role})${argv.as ? ' — you, acting as this user (--as)' : ''}`,
        `token    ${me.tokenId ?? 'the bootstrap admin token'}${me.scopes ? ` (${me.scopes.join(', ')})` : ''}`,
        `gateway  ${target.url}`,
        `from     ${target.source}`,
      ].join('\n'),
    );
  },
};

// ---- contexts: stored logins, one per gateway (or per identity)

const list: CommandModule<any, any> = {
  command: 'list',
  describe: 'stored logins; * marks the current one',
  handler: () => {
    const config = readConfig();
    const rows = Object.entries(config.contexts).map(([name, c]) => ({
      current: name === config.current ? '*' : ' ',
      name,
      url: c.url,
      user: c.user,
      role: c.role,
    }));
    emit({ current: config.current, items: rows.map(({ current: _c, ...row }) => row) }, () =>
      table(rows, ['current', 'name', 'url', 'user', 'role']),
    );
  },
};

const use: CommandModule<any, { name: string }> = {
  command: 'use <name>',
  describe: 'make a stored login the current one',
  handler: (argv) => {
    const config = readConfig();
    const name = chosenContext(config, String(argv.name));
    config.current = name;
    writeConfig(config);
    emit({ current: name }, () => `now using "${name}" (${config.contexts[name]!.url})`);
  },
};

const show: CommandModule<any, { name?: string }> = {
  command: 'show [name]',
  describe: 'one stored login (the current one by default); the token shows its id only',
  handler: (argv) => {
    const config = readConfig();
    const name = chosenContext(config, argv.name === undefined ? undefined : String(argv.name));
    const c = config.contexts[name]!;
    const view = {
      name,
      current: name === config.current,
      url: c.url,
      user: c.user ?? null,
      role: c.role ?? null,
      token: redacted(c.token),
      file: configFile(),
    };
    emit(view, () =>
      [
        `context  ${name}${view.current ? ' (current)' : ''}`,
        `gateway  ${c.url}`,
        `user     ${c.user ?? '?'} (${c.role ?? '?'})`,
        `token    ${view.token}`,
        `file     ${view.file}`,
      ].join('\n'),
    );
  },
};

const remove: CommandModule<any, { name: string; yes: boolean }> = {
  command: 'delete <name>',
  describe: 'forget a stored login (the token keeps working: `up tokens revoke`)',
  builder: (y) => yesOption(y) as never,
  handler: async (argv) => {
    const config = readConfig();
    const name = chosenContext(config, String(argv.name));
    await confirm(`forget the stored login "${name}" (${config.contexts[name]!.url})?`, { yes: argv.yes });
    delete config.contexts[name];
    if (config.current === name) config.current = null;
    writeConfig(config);
    emit({ deleted: name }, () => `forgot "${name}"`);
  },
};

export const context = group('up context', [list, use, show, remove]);
export { login, logout, whoami };
