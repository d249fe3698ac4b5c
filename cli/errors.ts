/** Exit codes beyond 0 and 1, as sysexits(3) names them. */
export const EXIT_USAGE = 64;
export const EXIT_CONFIG = 78;

/** A failure the user should read: printed as `up: <message>` without a stack. */
export class CliError extends Error {
  override name = 'CliError';
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** The command line itself is wrong: the message, then the command's usage line. */
export class UsageError extends CliError {
  override name = 'UsageError';
  constructor(
    message: string,
    /** The usage of the command that refused it, e.g. `up sites create <name>`. */
    readonly usage?: string,
    /** What to run for more, e.g. `up sites create --help`. */
    readonly help?: string,
  ) {
    super(message, EXIT_USAGE);
  }
}

/**
 * Every failure ends here, whatever threw it (a handler, yargs, a module that failed to load):
 * one `up:` line, a usage hint for usage errors, and a stack only with UP_DEBUG set. Returns
 * the exit code.
 */
export function reportFailure(error: unknown, write: (text: string) => void = (t) => process.stderr.write(t)): number {
  const debug = Boolean(process.env.UP_DEBUG?.trim());
  // By name, not class: the client bundle and the server code it loads (role commands) each
  // have their own copy of these classes.
  const name = error instanceof Error ? error.name : '';
  if (name === 'UsageError') {
    const usage = error as UsageError;
    write(`up: ${usage.message}\n${usage.usage ? `usage: ${usage.usage}\n` : ''}${usage.help ? `see: ${usage.help}\n` : ''}`);
    return usage.exitCode;
  }
  if (name === 'CliError') {
    write(`up: ${(error as CliError).message}\n`);
    return (error as CliError).exitCode;
  }
  // Thrown by the server roles' configuration (lib/config.ts).
  if (name === 'ConfigError') {
    write(`up: ${(error as Error).message}\n`);
    return EXIT_CONFIG;
  }
  const message = error instanceof Error ? error.message || error.name : String(error);
  if (debug && error instanceof Error && error.stack) write(`up: ${error.stack}\n`);
  else write(`up: ${firstLine(message)}${process.env.UP_DEBUG === undefined ? ' (set UP_DEBUG=1 for the details)' : ''}\n`);
  return 1;
}

const firstLine = (text: string) => text.split('\n', 1)[0]!.slice(0, 500);
