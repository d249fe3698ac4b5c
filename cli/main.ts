import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import pkg from '../package.json' with { type: 'json' };
import { useClientOptions } from './client.ts';
import { aliasesOf, unknownCommand, commandName, type CommandBody, type CommandEntry } from './command.ts';
import { COMMANDS } from './commands/index.ts';
import { checkContextName } from './contexts.ts';
import { reportFailure, UsageError } from './errors.ts';
import { OUTPUT_FORMATS, useOutput, type OutputFormat } from './output.ts';

// The user name pattern of the API (lib/db/users.ts USER_NAME_PATTERN), checked before a header carries it.
const USER_NAME = /^[a-z][a-z0-9]{1,30}$/;
const COMPLETION_KEY = '--get-yargs-completions';
/** Global options that take a value: skipped when looking for the command word. */
const VALUED = new Set(['--output', '-o', '--as', '--context']);

interface GlobalArgs {
  output: OutputFormat;
  json: boolean;
  headers: boolean;
  as?: string;
  context?: string;
}

/** Where the first word that is not an option is (the command to load), or -1. */
function commandIndex(args: readonly string[]): number {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') return i + 1 < args.length ? i + 1 : -1;
    if (!arg.startsWith('-')) return i;
    if (VALUED.has(arg)) i++;
  }
  return -1;
}

/** The first word that is not an option: the command to load. */
export const commandWord = (args: readonly string[]): string | undefined => args[commandIndex(args)];

/** yargs' usage of the command that failed, as a UsageError (`missing <name>` for its "Not enough non-option arguments"). */
function usageError(message: string, usage: { getUsage(): [string, string][] }): UsageError {
  const line = (usage.getUsage()[0]?.[0] ?? '$0 <command>').split('\n', 1)[0]!.replace(/^\$0/, 'up');
  const words = line.split(' ').filter((w) => !/^[<[]/.test(w));
  const help = `${words.join(' ')} --help`;
  const notEnough = /^Not enough non-option arguments: got (\d+), need at least \d+$/.exec(message);
  if (notEnough) {
    const placeholders = line.match(/<[^>]+>/g) ?? [];
    return new UsageError(`missing ${placeholders.slice(Number(notEnough[1])).join(' ') || 'arguments'}`, `${line} [options]`, help);
  }
  const invalid = /^Invalid values:\s+Argument: (\S+), Given: (.*), Choices: (.*)$/s.exec(message);
  if (invalid) {
    const [, name, given, choices] = invalid;
    const what = line.includes(`<${name}>`) ? `<${name}>` : `--${name}`;
    return new UsageError(`${what} ${given.trim()} is not one of ${choices.trim()}`, `${line} [options]`, help);
  }
  return new UsageError(message, `${line} [options]`, help);
}

/** Options that yargs left as NaN (`--limit abc`) are refused here, before any request. */
function checkNumbers(argv: Record<string, unknown>, y: Argv): void {
  // getOptions() is yargs' own (not in its typings): the options of the command being run.
  for (const key of (y as unknown as { getOptions(): { number: string[] } }).getOptions().number) {
    const value = argv[key];
    const values = Array.isArray(value) ? value : [value];
    if (values.some((v) => typeof v === 'number' && !Number.isFinite(v))) throw new UsageError(`--${key} must be a number`);
  }
}

async function loadEntries(args: readonly string[]): Promise<CommandBody[]> {
  const completing = args.includes(COMPLETION_KEY);
  const word = commandWord(args);
  return Promise.all(COMMANDS.map(async (entry) => (completing || commandName(entry.command) === word ? entry.load() : stub(entry))));
}

/**
 * The command word as its main noun: `up sites show` runs, helps, completes and fails as
 * `up websites show` (yargs would name the alias typed in usage lines, and its completion
 * knows no aliases). The word being completed, the last, stays as typed.
 */
function mainNoun(args: readonly string[]): string[] {
  const aliases = aliasesOf(COMMANDS);
  const at = commandIndex(args.includes(COMPLETION_KEY) ? args.slice(0, -1) : args);
  const word = args[at];
  return args.map((arg, i) => (i === at && word !== undefined && Object.hasOwn(aliases, word) ? aliases[word]! : arg));
}

/** A command that was not loaded: enough for `up --help`, never run. */
const stub = (entry: CommandEntry): CommandBody => ({
  handler: () => {
    throw new UsageError(
      `could not tell which command to run; put the options after "${commandName(entry.command)}"`,
      `up ${entry.command} [options]`,
      `up ${commandName(entry.command)} --help`,
    );
  },
});

/** Runs `up <args>`; resolves to the exit code when it failed, to null when the command set its own. */
export async function main(argv: string[] = hideBin(process.argv)): Promise<number | null> {
  let args = argv;
  // `up completion zsh`: yargs picks the script by $SHELL.
  if (args[0] === 'completion' && args.length === 2) {
    if (args[1] !== 'bash' && args[1] !== 'zsh')
      return reportFailure(
        new UsageError(`completion for ${JSON.stringify(args[1])}: bash or zsh`, 'up completion [bash|zsh]', 'up --help'),
      );
    process.env.SHELL = `/bin/${args[1]}`;
    delete process.env.ZSH_NAME;
    args = ['completion'];
  }
  args = mainNoun(args);
  try {
    const bodies = await loadEntries(args);
    const names = COMMANDS.map((c) => commandName(c.command));
    const y = yargs(args)
      .scriptName('up')
      .usage(
        '$0 <command> [options]\n\nClient commands talk to the gateway (UP_URL and UP_TOKEN, or `up login`); role commands (serve, gateway, handler, recorder, scheduler, db) read UP_DATABASE_URL and UP_AMQP_URL.',
      )
      .version(pkg.version)
      .option('output', {
        alias: 'o',
        choices: OUTPUT_FORMATS,
        default: 'table' as OutputFormat,
        global: true,
        describe: 'table for people, json or yaml for scripts',
      })
      .option('json', { type: 'boolean', default: false, global: true, describe: 'the same as --output json' })
      .option('headers', { type: 'boolean', default: true, global: true, describe: 'table headers (--no-headers: rows only)' })
      .option('as', {
        type: 'string',
        global: true,
        describe: 'admins: run the command as this user (their scope and limits; audited as both)',
      })
      .option('context', { type: 'string', global: true, describe: 'use this stored login (`up context list`) instead of the current one' })
      .group(['output', 'json', 'headers', 'as', 'context', 'help', 'version'], 'Global options:')
      // yargs calls middleware with the command's own instance too (not in its typings).
      .middleware((async (argv: GlobalArgs & Record<string, unknown>, inner: Argv) => {
        checkNumbers(argv, inner);
        if (argv.as !== undefined && !USER_NAME.test(argv.as))
          throw new UsageError(`--as ${JSON.stringify(argv.as)} is not a user name`, 'up <command> --as <user>', 'up --help');
        if (argv.context !== undefined) checkContextName(argv.context);
        await useOutput({ format: argv.json ? 'json' : argv.output, headers: argv.headers });
        useClientOptions({ as: argv.as, context: argv.context });
      }) as never)
      .command([
        ...COMMANDS.map((entry, i) => ({ command: entry.command, aliases: entry.aliases ?? [], describe: entry.describe, ...bodies[i] })),
        unknownCommand('up', () => names, aliasesOf(COMMANDS)),
      ] as never)
      // What follows `--` is a command line for something else (a container's process): kept whole in argv['--'].
      .parserConfiguration({ 'populate--': true })
      .completion('completion', 'print the bash or zsh completion script: `up completion bash >> ~/.bashrc`')
      .strict()
      .help()
      .alias('help', 'h')
      .wrap(Math.min(120, process.stdout.columns || 100))
      .fail((message, error, usage) => {
        throw error ?? usageError(message, usage as never);
      });
    await y.parseAsync();
    return null;
  } catch (error) {
    return reportFailure(error);
  }
}
