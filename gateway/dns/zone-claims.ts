/**
 * What a zone would take from others: a zone answers for every name at and under it, so a user's
 * zone may hold nothing that someone else already uses here. Checked when a user creates a zone
 * and when an admin assigns one; the converse (a website claiming names in another user's zone,
 * a proxy wildcard in a user's zone) is refused on the websites' and proxies' side.
 */
import type { Knex } from 'knex';

/** `name` and every parent of it, the TLD included. */
export function selfAndParents(name: string): string[] {
  const labels = name.split('.');
  return labels.map((_, i) => labels.slice(i).join('.'));
}

/**
 * Why `name` cannot be a zone of the user `ownerId`, or null: a proxy group's wildcard domain at,
 * under or above it (the temporary subdomains of every site there), or a name that another user's
 * website claims or answers at (its temporary subdomain) at, under or above it.
 */
export async function zoneClashForUser(db: Knex, name: string, ownerId: string): Promise<string | null> {
  const groups: { name: string; wildcard_domain: string }[] = await related(db('proxy_groups'), 'wildcard_domain', name)
    .orderBy('wildcard_domain')
    .select('name', 'wildcard_domain');
  for (const group of groups) {
    return clash(
      name,
      group.wildcard_domain,
      `the wildcard domain of proxy group ${group.name} (the temporary subdomains of every website there)`,
    );
  }
  const claims: { domain: string }[] = await related(db('website_domains'), 'domain', name)
    .whereNot('owner_id', ownerId)
    .orderBy('domain')
    .select('domain');
  for (const { domain } of claims) return clash(name, domain, "a name another user's website uses");
  const temps: { temp_domain: string }[] = await related(db('websites'), 'temp_domain', name)
    .whereNot('owner_id', ownerId)
    .orderBy('temp_domain')
    .select('temp_domain');
  for (const { temp_domain: domain } of temps) return clash(name, domain, "the temporary subdomain of another user's website");
  return null;
}

/** Rows of `column` that equal `name`, lie under it, or are a parent of it. Zone names have no LIKE wildcards ([a-z0-9.-]). */
function related(query: Knex.QueryBuilder, column: string, name: string): Knex.QueryBuilder {
  return query.where((q) => q.whereIn(column, selfAndParents(name)).orWhere(column, 'like', `%.${name}`));
}

/** `name` against `other` (equal to it, a parent of it, or under it), and what `other` is. */
function clash(name: string, other: string, what: string): string {
  if (other === name) return `${name} is ${what}`;
  if (other.endsWith(`.${name}`)) return `${name} holds ${other}, ${what}`;
  return `${name} lies under ${other}, ${what}`;
}
