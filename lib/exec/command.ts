/**
 * The only way to build text that a shell on a host will run. Every interpolated value is
 * quoted into one literal word (arrays into several), so data can never become syntax; a
 * nested Command is inserted as is, which is how commands compose.
 */
import { quote } from 'shell-quote';

const constructing: unique symbol = Symbol('Command');

export class Command {
  readonly text: string;

  /** Not for callers: build commands with `sh` or `script`. */
  constructor(token: typeof constructing, text: string) {
    if (token !== constructing) throw new TypeError('build a Command with the sh`` template');
    this.text = text;
  }

  toString(): string {
    return this.text;
  }
}

export type Word = string | number | bigint;
export type Interpolation = Word | Command | readonly Word[];

/** Quotes one value as a single shell word; NUL cannot be passed through argv, so it is refused. */
function quoteWord(value: Word): string {
  if (typeof value === 'number' && !Number.isFinite(value)) {
    throw new TypeError(`cannot put ${value} in a command`);
  }
  const text = String(value);
  if (text.includes('\0')) throw new TypeError('a command value must not contain NUL');
  return quote([text]);
}

function interpolate(value: unknown): string {
  if (value instanceof Command) return value.text;
  if (Array.isArray(value)) return value.map((item) => interpolate1(item)).join(' ');
  return interpolate1(value);
}

function interpolate1(value: unknown): string {
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'bigint') {
    return quoteWord(value);
  }
  // undefined/null/objects are bugs in the caller; quoting "undefined" would hide them.
  throw new TypeError(`cannot put a ${value === null ? 'null' : typeof value} in a command`);
}

/**
 * sh`nginx -t -c ${conf}` — each `${}` becomes quoted literal data. The literal parts are taken
 * raw, as the shell author wrote them: sh`printf '%s\n'` passes a backslash-n to printf, and
 * sed's `\.` stays `\.` (JavaScript's own escapes would silently eat backslashes).
 */
export function sh(strings: TemplateStringsArray, ...values: readonly Interpolation[]): Command {
  let text = strings.raw[0];
  for (let i = 0; i < values.length; i++) text += interpolate(values[i]) + strings.raw[i + 1];
  if (text.includes('\0')) throw new TypeError('a command must not contain NUL');
  return new Command(constructing, text);
}

/**
 * Joins commands into one script for `sh -s` that stops at the first failure. The body is a
 * brace group, so the shell parses the whole script before running any of it (a script cut
 * short in transit is a syntax error, not half a change), and its stdin is /dev/null, so no
 * command can swallow the rest of the script.
 */
export function script(...commands: readonly Command[]): Command {
  const body = commands.length ? commands.map((command) => command.text).join('\n') : ':';
  return new Command(constructing, `set -eu\n{\n${body}\n} </dev/null\n`);
}

/** Joins commands with `&&` on one line, for a single exec. */
export function and(...commands: readonly Command[]): Command {
  return new Command(constructing, commands.map((command) => command.text).join(' && '));
}
