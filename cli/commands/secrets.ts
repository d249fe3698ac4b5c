import { read } from 'read';
import type { CommandModule } from 'yargs';
import { UpClient } from '../client.ts';
import { group } from '../command.ts';
import { confirm, yesOption } from '../confirm.ts';
import { CliError } from '../errors.ts';
import { reportFanOut, type Job } from '../follow.ts';
import { emit, table, when } from '../output.ts';
import { waitOptions } from './jobs.ts';

type Common = Record<string, unknown>;
type Args = { wait: boolean; timeout: number } & Record<string, any>;
type Secret = { name: string; owner: string; version: number; usedBy: string[]; apps: string[]; createdAt: string; updatedAt: string };
export type SecretUse = { name: string; env?: string };

/** `--secret NAME[:ENV]` (repeatable), for containers and apps: the file /run/secrets/NAME, or the variable ENV. */
export const SECRET_OPTION = {
  type: 'string',
  array: true,
  describe: 'NAME[:ENV]: one of your secrets, read as /run/secrets/NAME, or as the variable ENV (repeatable)',
} as const;

export function secretUsesOf(specs: string[]): SecretUse[];
export function secretUsesOf(specs: string[] | undefined): SecretUse[] | undefined;
export function secretUsesOf(specs: string[] | undefined) {
  return specs?.map((spec) => {
    const match = /^([^:]+)(?::([^:]+))?$/.exec(spec);
    if (!match) throw new CliError(`--secret wants NAME or NAME:ENV, got ${spec}`);
    return { name: match[1], ...(match[2] ? { env: match[2] } : {}) };
  });
}

export const describeUses = (uses: SecretUse[]) => uses.map((s) => (s.env ? `${s.name}:${s.env}` : s.name)).join(' ') || '-';

/** Who reads a secret: its containers, and its apps as `app:NAME`. */
const readers = (s: Secret) => [...s.usedBy, ...s.apps.map((a) => `app:${a}`)];
type Change = { secret: Secret; jobs: Job[] };

const url = (argv: Record<string, any>) =>
  `/v1/secrets/${encodeURIComponent(argv.name)}${argv.owner ? `?owner=${encodeURIComponent(argv.owner)}` : ''}`;

/**
 * The value: typed at a prompt that does not echo, or everything piped on stdin (one trailing
 * newline dropped, as `echo` adds it). Never an argument: the command line is visible to others.
 */
async function valueToStore(): Promise<string> {
  let value: string;
  if (process.stdin.isTTY) {
    value = await read({ prompt: 'value: ', silent: true, replace: '', output: process.stderr });
  } else {
    let text = '';
    for await (const chunk of process.stdin) text += chunk;
    value = text.replace(/\r?\n$/, '');
  }
  if (!value) throw new CliError('no value: pipe it on stdin, or type it at the prompt');
  return value;
}

const set: CommandModule<Common, Args> = {
  command: 'set <name>',
  describe:
    'create a secret or give it a new value (from stdin, or a prompt that does not echo); containers that read it are applied again',
  builder: (y) => waitOptions(y),
  handler: async (argv) => {
    const value = await valueToStore();
    const client = UpClient.fromEnvironment();
    const { body } = await client.request<Change>('PUT', url({ name: argv.name }), { body: { value } });
    await reportFanOut(
      client,
      body,
      argv,
      `secret ${body.secret.name} version ${body.secret.version}${readers(body.secret).length ? ` (read by ${readers(body.secret).join(', ')})` : ''}`,
    );
  },
};

const list: CommandModule<Common, Common> = {
  command: 'list',
  describe: 'your secrets by name (never their values)',
  handler: async () => {
    const body = await UpClient.fromEnvironment().listAll<Secret>('/v1/secrets');
    emit(body, () =>
      table(
        body.map((s) => ({
          name: s.name,
          owner: s.owner,
          version: String(s.version),
          'used by': readers(s).join(' ') || '-',
          updated: when(s.updatedAt),
        })),
        ['name', 'owner', 'version', 'used by', 'updated'],
      ),
    );
  },
};

const remove: CommandModule<Common, Record<string, any>> = {
  command: 'delete <name>',
  describe: 'delete a secret that no container reads',
  builder: (y: any) =>
    yesOption(y).option('owner', { type: 'string', describe: "admins: the secret's owner, when several users have one of this name" }),
  handler: async (argv) => {
    await confirm(`delete secret ${argv.name}?`, { yes: argv.yes });
    await UpClient.fromEnvironment().request('DELETE', url(argv));
    process.stderr.write(`secret ${argv.name}: deleted\n`);
  },
};

const rekey: CommandModule<Common, Common> = {
  command: 'rekey',
  describe: 'admins, after a key rotation (new key first in UP_SECRETS_KEY_FILE): seal every stored value again with the new key',
  handler: async () => {
    const { body } = await UpClient.fromEnvironment().request<{ checked: number; resealed: number; unreadable: string[] }>(
      'POST',
      '/v1/secrets/rekey',
    );
    emit(body, () =>
      [
        `${body.resealed} of ${body.checked} secrets sealed again with the new key`,
        ...body.unreadable.map((name) => `not opened by any key (set it again): ${name}`),
      ].join('\n'),
    );
    if (body.unreadable.length) process.exitCode = 1;
  },
};

export const secrets = group('up secrets', [set, list, remove, rekey]);
