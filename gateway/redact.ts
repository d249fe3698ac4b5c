/**
 * Free text shown to users (a job's error and events, its target, a zone's status message) is
 * written by handlers for the admin: it can name what the user's view of the payload leaves out.
 * A redactor takes out (1) every value the user's view dropped (host addresses, key names, base
 * directories, ...), (2) any IP address the user did not give themselves, with its port, (3) any
 * absolute file path the user did not give themselves, and (4) SSH host key fingerprints.
 */
import { isIP } from 'node:net';

export const HIDDEN = '[hidden]';

/** Values shorter than this are replaced only where they read as `user@`: a word like `root` also reads "document root". */
const SHORT = 6;

const IPV4 = /\b\d{1,3}(?:\.\d{1,3}){3}\b(?::\d{1,5}\b)?/g;
const IPV6 =
  /\[[0-9A-Fa-f:.]{2,45}\](?::\d{1,5}\b)?|(?<![\w:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?::\d{1,3}(?:\.\d{1,3}){3})?(?![\w:])/g;
const PATH = /(?<![\w.:/-])(?:\/[\w.@+-]+){2,}\/?/g;
/** An SSH host key fingerprint: never a user's. */
const FINGERPRINT = /SHA256:[A-Za-z0-9+/]{43}=?/g;

/** Every string (and number) in `value`, as text. */
export function leaves(value: unknown, into: Set<string> = new Set()): Set<string> {
  if (typeof value === 'string') into.add(value);
  else if (typeof value === 'number') into.add(String(value));
  else if (typeof value === 'object' && value !== null) for (const inner of Object.values(value)) leaves(inner, into);
  return into;
}

/** Whether `text` occurs in `value` as a whole (10.0.0.5 in `10.0.0.5:80`, not in `10.0.0.50`). */
function contains(value: string, text: string): boolean {
  for (let at = value.indexOf(text); at >= 0; at = value.indexOf(text, at + 1)) {
    if (!/[\w.]/.test(value[at - 1] ?? '') && !/[\w.]/.test(value[at + text.length] ?? '')) return true;
  }
  return false;
}

/** A redactor for text about `full`, shown to someone who may see `visible` of it. */
export function redactor(full: unknown, visible: unknown): (text: string) => string {
  // Worked out on first use: a job without free text costs nothing, and the cost of one with it
  // grows with its payload like writing that payload out does.
  let known: { shown: string[]; hidden: string[] } | null = null;
  const values = () => {
    if (known) return known;
    const shown = leaves(visible);
    const hidden = [...leaves(full)].filter((value) => value.length > 1 && !/^\d+$/.test(value) && !shown.has(value));
    return (known = { shown: [...shown], hidden: hidden.sort((a, b) => b.length - a.length) });
  };
  const isShown = (text: string) => values().shown.some((value) => contains(value, text));
  return (text) => {
    // Addresses first, so that their ports go with them (IPv6 first: it may hold an IPv4 address).
    let out = text.replace(IPV6, (match) => {
      const address = match.startsWith('[') ? match.slice(1, match.indexOf(']')) : match;
      return isIP(address) && !isShown(address) ? HIDDEN : match;
    });
    out = out.replace(IPV4, (match) => (isShown(match.split(':')[0]) ? match : HIDDEN));
    for (const value of values().hidden)
      out = value.length >= SHORT ? out.split(value).join(HIDDEN) : out.split(`${value}@`).join(`${HIDDEN}@`);
    out = out.replace(PATH, (match) => (isShown(match) ? match : HIDDEN)).replace(FINGERPRINT, HIDDEN);
    // A hidden name's port, and runs of hidden parts (a hidden base directory, then the rest of its path), become one.
    return out.replace(/\[hidden\]:\d{1,5}\b/g, HIDDEN).replace(/(?:\[hidden\])+/g, HIDDEN);
  };
}
