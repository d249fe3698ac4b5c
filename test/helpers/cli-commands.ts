import yargs from 'yargs';
import type { CommandModule } from 'yargs';
import { commandName, type CommandBody } from '../../cli/command.ts';
import { COMMANDS } from '../../cli/commands/index.ts';

export interface Positional {
  name: string;
  required: boolean;
  variadic: boolean;
}

/** One command a user can run, as yargs knows it: its words, positionals and options. */
export interface LeafCommand {
  words: string[];
  usage: string;
  role: boolean;
  positionals: Positional[];
  numbers: string[];
  choices: Record<string, readonly string[]>;
  demanded: string[];
  options: string[];
}

const positionalsOf = (command: string): Positional[] =>
  [...command.matchAll(/([<[])([^>\]]+?)(\.\.)?[>\]]/g)].map((m) => ({ name: m[2]!, required: m[1] === '<', variadic: Boolean(m[3]) }));

/** Runs a command's builder on a yargs instance of its own and reads back what it declared. */
function declared(body: CommandBody) {
  const y = yargs([]);
  body.builder?.(y as never);
  const options = (
    y as unknown as {
      getOptions(): {
        key: Record<string, unknown>;
        number: string[];
        choices: Record<string, string[]>;
        demandedOptions: Record<string, unknown>;
      };
    }
  ).getOptions();
  return {
    options: Object.keys(options.key),
    numbers: options.number,
    choices: options.choices,
    demanded: Object.keys(options.demandedOptions),
  };
}

/**
 * Every command of the CLI, walked from the same table and groups `up` itself registers (so a
 * new command is in the list without a word here), and every group (a command that only holds
 * others).
 */
export async function cliCommands(): Promise<{ leaves: LeafCommand[]; groups: { words: string[]; names: string[] }[] }> {
  const leaves: LeafCommand[] = [];
  const groups: { words: string[]; names: string[] }[] = [];
  const visit = (words: string[], command: string, body: CommandBody, role: boolean) => {
    if (body.subcommands) {
      groups.push({ words, names: body.subcommands.map((c) => commandName(String(c.command))) });
      for (const sub of body.subcommands as CommandModule<any, any>[])
        visit([...words, commandName(String(sub.command))], String(sub.command), sub as CommandBody, role);
      return;
    }
    const { options, numbers, choices, demanded } = declared(body);
    const positionals = positionalsOf(command);
    leaves.push({
      words,
      usage: `up ${[...words.slice(0, -1), command].join(' ')}`,
      role,
      positionals,
      numbers: numbers.filter((n) => !positionals.some((p) => p.name === n)),
      choices: Object.fromEntries(Object.entries(choices).filter(([name]) => !positionals.some((p) => p.name === name))),
      demanded,
      options,
    });
  };
  for (const entry of COMMANDS) visit([commandName(entry.command)], entry.command, await entry.load(), entry.role ?? false);
  return { leaves, groups };
}
