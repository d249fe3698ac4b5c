/**
 * The host-side half of putFile, shared by both executors: inspect the current file, decide
 * whether anything changes, and set metadata and rename the uploaded temp file into place.
 */
import { createHash, randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import { PermanentError } from '../errors.ts';
import { and, sh, type Command } from './command.ts';
import type { PutFileOptions } from './types.ts';

const ACCOUNT = /^(?:[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?|[0-9]{1,10})$/;

export function assertAbsolutePath(path: string): void {
  const segments = path.split('/').slice(1);
  const ok =
    path.length <= 4096 &&
    path.startsWith('/') &&
    !/[\0\n\r]/.test(path) &&
    segments.every((segment) => segment !== '' && segment !== '.' && segment !== '..');
  if (!ok) throw new PermanentError(`not a normalised absolute file path: ${JSON.stringify(path)}`);
}

export function assertPutFileOptions(opts: PutFileOptions): void {
  if (opts.mode !== undefined && !(Number.isInteger(opts.mode) && opts.mode >= 0 && opts.mode <= 0o7777)) {
    throw new PermanentError(`invalid file mode: ${opts.mode}`);
  }
  for (const account of [opts.owner, opts.group]) {
    if (account !== undefined && !ACCOUNT.test(account)) {
      throw new PermanentError(`invalid user or group name: ${JSON.stringify(account)}`);
    }
  }
}

export interface FileState {
  sha256: string;
  mode: number;
  owner: string;
  group: string;
  uid: string;
  gid: string;
}

/** Prints nothing when no regular file is there, else its sha256 and its metadata. */
export function inspectFileCommand(path: string): Command {
  return sh`if [ -f ${path} ]; then sha256sum < ${path} && stat -L -c '%a %U %G %u %g' -- ${path}; fi`;
}

export function parseFileState(stdout: string): FileState | null {
  const lines = stdout.trim().split('\n');
  if (lines.length < 2) return null;
  const [sha256] = lines[0].split(' ');
  const [mode, owner, group, uid, gid] = lines[1].split(' ');
  return { sha256, mode: parseInt(mode, 8), owner, group, uid, gid };
}

export function sha256Hex(content: Buffer): string {
  return createHash('sha256').update(content).digest('hex');
}

export function contentMatches(state: FileState | null, content: Buffer): boolean {
  return state !== null && state.sha256 === sha256Hex(content);
}

export function metadataMatches(state: FileState, opts: PutFileOptions): boolean {
  return (
    (opts.mode === undefined || state.mode === opts.mode) &&
    (opts.owner === undefined || opts.owner === state.owner || opts.owner === state.uid) &&
    (opts.group === undefined || opts.group === state.group || opts.group === state.gid)
  );
}

function octal(mode: number): string {
  return mode.toString(8).padStart(4, '0');
}

/** chown before chmod: chown clears setuid/setgid bits. */
function metadataSteps(target: string, opts: PutFileOptions, defaultMode?: number): Command[] {
  const steps: Command[] = [];
  if (opts.owner !== undefined) steps.push(sh`chown ${opts.owner} -- ${target}`);
  if (opts.group !== undefined) steps.push(sh`chgrp ${opts.group} -- ${target}`);
  const mode = opts.mode ?? defaultMode;
  if (mode !== undefined) steps.push(sh`chmod ${octal(mode)} -- ${target}`);
  return steps;
}

/** Content is right, only owner/group/mode differ: fix them in place. */
export function fixMetadataCommand(path: string, opts: PutFileOptions): Command {
  return and(...metadataSteps(path, opts));
}

/** A sibling of the target, so the final rename stays on one filesystem (atomic). */
export function tempPathFor(path: string): string {
  const dir = posix.dirname(path);
  const base = posix.basename(path).slice(0, 200);
  return posix.join(dir, `.${base}.up-tmp-${randomBytes(6).toString('hex')}`);
}

/**
 * Gives the uploaded temp file the existing file's metadata (or the requested one) and renames
 * it over the target; `mv -T` refuses to move it into a directory of that name.
 */
export function installTempCommand(temp: string, path: string, opts: PutFileOptions, exists: boolean): Command {
  const steps: Command[] = [];
  if (exists) steps.push(sh`chown --reference=${path} -- ${temp}`, sh`chmod --reference=${path} -- ${temp}`);
  steps.push(...metadataSteps(temp, opts, exists ? undefined : 0o644));
  steps.push(sh`mv -fT -- ${temp} ${path}`);
  return and(...steps);
}

export function removeTempCommand(temp: string): Command {
  return sh`rm -f -- ${temp}`;
}
