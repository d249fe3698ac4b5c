import { createInterface } from 'node:readline/promises';
import type { Argv } from 'yargs';
import { CliError } from './errors.ts';

/** The `--yes` of every command that asks first. */
export const yesOption = <T>(y: Argv<T>, describe = 'do not ask for confirmation') =>
  y.option('yes', { alias: 'y', type: 'boolean', default: false, describe });

/**
 * Asks on the terminal before something that cannot be undone. Without a terminal (a script,
 * a pipe) nothing is asked and nothing is done: the caller must have said `--yes` up front.
 */
export async function confirm(question: string, options: { yes: boolean; refusal?: string }): Promise<void> {
  if (options.yes) return;
  if (!process.stdin.isTTY)
    throw new CliError(
      options.refusal ?? `${question.replace(/\?$/, '')}: stdin is not a terminal, so nothing was asked and nothing done; pass --yes`,
    );
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  const answer = await rl.question(`${question} [y/N] `).finally(() => rl.close());
  if (!/^y(es)?$/i.test(answer.trim())) throw new CliError('not confirmed; nothing done');
}
