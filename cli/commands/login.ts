import type { CommandModule } from 'yargs';
import { CliError, UpClient, writeLogin } from '../client.ts';
import { emit } from '../output.ts';

interface LoginArgs {
  json: boolean;
  url?: string;
  token?: string;
}

/** Reads one line from a piped stdin, so that a token need not be on the command line. */
async function tokenFromStdin(): Promise<string | null> {
  if (process.stdin.isTTY) return null;
  let text = '';
  for await (const chunk of process.stdin) text += chunk;
  return text.trim().split('\n')[0]?.trim() || null;
}

export const login: CommandModule<{ json: boolean }, LoginArgs> = {
  command: 'login',
  describe: 'check a token with the gateway and store it (with the URL) for later commands',
  builder: (y) =>
    y
      .option('url', { type: 'string', describe: 'the gateway, e.g. https://up.example.net (default: UP_URL)' })
      .option('token', { type: 'string', describe: 'the API token (default: UP_TOKEN, else one line on stdin)' }) as never,
  handler: async (argv) => {
    const url = (argv.url || process.env.UP_URL?.trim() || UpClient.fromEnvironment().url).replace(/\/+$/, '');
    try {
      new URL(url);
    } catch {
      throw new CliError(`--url ${url} is not a URL`);
    }
    const token = argv.token?.trim() || process.env.UP_TOKEN?.trim() || (await tokenFromStdin());
    if (!token) throw new CliError('no token: pass --token, set UP_TOKEN, or pipe it on stdin');
    const { body: me } = await new UpClient(url, token).request<{ name: string; role: string; scopes?: string[] }>('GET', '/v1/whoami');
    const file = writeLogin({ url, token });
    emit(argv.json, { url, user: me.name, role: me.role, file }, () => `logged in as ${me.name} (${me.role}) at ${url}; stored in ${file}`);
  },
};
