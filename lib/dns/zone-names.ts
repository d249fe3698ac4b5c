/**
 * Which names may be a zone here, by the name alone (what else exists is lib/db/zone-claims.ts).
 * Names arrive normalised (normaliseZoneName: lower-case ASCII, IDN as punycode, no trailing dot).
 *
 * - Never, for anyone: special-use names that no unicast DNS server answers for (RFC 6761
 *   localhost and invalid, RFC 6762 local, RFC 7686 onion, RFC 9476 alt). `test` (RFC 6761) and
 *   the documentation names stay allowed: a lab's own zones, which no real domain can collide with.
 * - Not for users: a public suffix (the Public Suffix List, its private section included:
 *   `co.uk`, `github.io`), since a zone there would answer for everyone registered under it;
 *   a zone must be a registrable domain or a name under one. And nothing under `arpa`
 *   (reverse zones, home.arpa): those follow address delegations, so an admin creates them and
 *   assigns them to a user.
 */
import { parse } from 'tldts';
import { InputError } from '../errors.ts';

/** Special-use TLDs that are never a unicast DNS zone. */
const NEVER_IN_DNS = ['localhost', 'invalid', 'local', 'onion', 'alt'];
const INFRASTRUCTURE_TLD = 'arpa';

const tld = (name: string) => name.slice(name.lastIndexOf('.') + 1);

/** Refuses names no zone may have, for admins too. */
export function checkZoneNameForAnyone(name: string, field: string): void {
  if (NEVER_IN_DNS.includes(tld(name))) {
    throw new InputError(field, `.${tld(name)} is a special-use name that DNS servers do not serve (RFC 6761, 6762, 7686, 9476)`, 422);
  }
}

/** Refuses names only an admin may turn into a zone (checkZoneNameForAnyone comes first). */
export function checkZoneNameForUser(name: string, field: string): void {
  if (tld(name) === INFRASTRUCTURE_TLD) {
    throw new InputError(
      field,
      `${name} is under .arpa (reverse and infrastructure zones): an admin creates such a zone and assigns it to you`,
      403,
    );
  }
  const suffix = publicSuffixOf(name);
  if (suffix === name) {
    throw new InputError(
      field,
      `${name} is a public suffix (Public Suffix List): a zone must be a domain registered under it, such as example.${name}`,
      422,
    );
  }
}

/** The public suffix of a name (ICANN and private sections); unknown TLDs are their own suffix (the list's `*` rule). */
export function publicSuffixOf(name: string): string {
  const parsed = parse(name, { allowPrivateDomains: true, extractHostname: false, validateHostname: false });
  return parsed.publicSuffix ?? tld(name);
}
