import levenshtein from 'js-levenshtein';
import type { Argv, CommandModule } from 'yargs';
import { UsageError } from './errors.ts';

/** What a command module exports: how to parse its arguments and what to do. */
export interface CommandBody<A = any> {
  builder?: (y: Argv<any>) => Argv<any> | PromiseLike<Argv<any>>;
  handler?: (argv: A) => void | Promise<void>;
  /** For a group: the commands under it (what the completion and the tests walk). */
  subcommands?: readonly CommandModule<any, any>[];
}

/**
 * A top-level command as `up --help` lists it, its module loaded only when it runs: `up ping`
 * never loads the DNS commands, and `up --help` loads none.
 */
export interface CommandEntry {
  command: string;
  describe: string;
  /** Other words that run it (`sites` for `websites`); help, suggestions and errors name `command`. */
  aliases?: readonly string[];
  /** Role commands start server code; the rest are clients of the gateway. */
  role?: boolean;
  load: () => Promise<CommandBody>;
}

/** The command's words in a yargs command string: `add <zone> <name>` → `add`. */
export const commandName = (command: string) => command.split(/\s+/, 1)[0]!;

/**
 * Up to three names close to `word`: a typo, or a prefix of the one meant. A word close to an
 * alias suggests the name it stands for (`site` → `websites`, through `sites`).
 */
export function suggestions(word: string, names: readonly string[], aliases: Readonly<Record<string, string>> = {}): string[] {
  const close = [...names.map((name) => ({ word: name, name })), ...Object.entries(aliases).map(([alias, name]) => ({ word: alias, name }))]
    .map((c) => ({ ...c, distance: c.word.startsWith(word) ? 0 : levenshtein(word, c.word) }))
    .filter((c) => c.distance <= Math.max(1, Math.min(3, Math.floor(c.word.length / 2))));
  const best = Math.min(...close.map((c) => c.distance));
  return [...new Set(close.filter((c) => c.distance === best).map((c) => c.name))].slice(0, 3);
}

/** The aliases of these entries, each to the name it stands for: `{ sites: 'websites' }`. */
export const aliasesOf = (entries: readonly Pick<CommandEntry, 'command' | 'aliases'>[]): Record<string, string> =>
  Object.fromEntries(entries.flatMap((e) => (e.aliases ?? []).map((alias) => [alias, commandName(e.command)])));

/**
 * The catch-all of a command level: runs when no command of that level matched, and says so
 * (`unknown command "crete" for "up websites"`, with the close names), instead of yargs'
 * "Unknown argument" or "Not enough non-option arguments".
 */
export function unknownCommand(
  path: string,
  names: () => readonly string[],
  aliases: Readonly<Record<string, string>> = {},
): CommandModule<any, any> {
  return {
    command: '$0 [command] [rest..]',
    describe: false,
    handler: (argv: Record<string, unknown>) => {
      const usage = `${path} <command>`;
      const help = `${path} --help`;
      const choices = names();
      if (argv.command === undefined) throw new UsageError(`missing command: ${choices.join(', ')}`, usage, help);
      const word = String(argv.command);
      const close = suggestions(word, choices, aliases);
      throw new UsageError(
        `unknown command ${JSON.stringify(word)} for "${path}"${close.length ? `; did you mean ${close.map((c) => `"${c}"`).join(' or ')}?` : ''}`,
        usage,
        help,
      );
    },
  };
}

/** A command that only holds others (`up websites <command>`). */
export function group(path: string, commands: readonly CommandModule<any, any>[]): CommandBody {
  const names = () => commands.map((c) => commandName(String(c.command)));
  return {
    builder: (y) => y.command([...commands, unknownCommand(path, names)] as never),
    subcommands: commands,
  };
}

/** A group inside a group: `up dns zones <command>`. */
export function subgroup(
  name: string,
  describe: string,
  path: string,
  commands: readonly CommandModule<any, any>[],
): CommandModule<any, any> {
  return { command: name, describe, ...group(path, commands) } as CommandModule<any, any>;
}
