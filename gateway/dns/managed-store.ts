/**
 * Records that up keeps on a user's behalf: a website's domains in its owner's zone, a proxy
 * group's wildcard domain in the admin's zone. They are dns_records rows like any other (the
 * zone's truth stays in one table), marked with the resource they follow: `(manager_kind,
 * manager_id)`, the kind declared by its domain (gateway/domain.ts, `recordManagers`).
 */
import type { Knex } from 'knex';
import type { RecordManager } from '../domain.ts';
import type { DnsRecordRow, DnsZoneRow } from './store.ts';

/** What a managed record follows: a kind that some domain declares (`recordManagers`) and the resource's id. */
export interface ManagedBy {
  manager_kind: string;
  manager_id: string;
}

/** Who keeps a record, as the records API shows it. */
export interface Manager {
  kind: string;
  name: string;
}

/** The zone hosted here that holds `name`: the longest zone name that is `name` or one of its parents. */
export async function hostingZone(db: Knex, name: string): Promise<DnsZoneRow | undefined> {
  const labels = name.split('.');
  const candidates = labels.slice(0, -1).map((_, i) => labels.slice(i).join('.'));
  const zones: DnsZoneRow[] = await db('dns_zones').whereIn('name', candidates);
  return zones.sort((a, b) => b.name.length - a.name.length)[0];
}

export function managedRecords(db: Knex, by: ManagedBy): Promise<DnsRecordRow[]> {
  return db('dns_records')
    .where(by)
    .orderBy([{ column: 'name' }, { column: 'type' }, { column: 'value' }]);
}

/** Who keeps each managed row of `rows` (by row id), named as its domain's declaration says; the user's own rows are absent. */
export async function managersOf(
  db: Knex,
  rows: readonly Pick<DnsRecordRow, 'id' | 'manager_kind' | 'manager_id'>[],
): Promise<Map<string, Manager>> {
  const kinds = await recordManagers();
  const names = new Map<string, string>();
  for (const kind of new Set(rows.flatMap((r) => (r.manager_kind ? [r.manager_kind] : [])))) {
    const declared = kinds.get(kind);
    const ids = [...new Set(rows.filter((r) => r.manager_kind === kind).map((r) => r.manager_id!))];
    if (!declared) continue;
    for (const row of (await db(declared.table).whereIn('id', ids).select('id', 'name')) as { id: string; name: string }[])
      names.set(`${kind}:${row.id}`, row.name);
  }
  const managers = new Map<string, Manager>();
  for (const row of rows) {
    if (row.manager_kind && row.manager_id)
      managers.set(row.id, { kind: row.manager_kind, name: names.get(`${row.manager_kind}:${row.manager_id}`) ?? row.manager_id });
  }
  return managers;
}

/** "website shop", "proxy group edge": the manager as messages name it. */
export async function describeManager(m: Manager): Promise<string> {
  return `${(await recordManagers()).get(m.kind)?.label ?? m.kind} ${m.name}`;
}

/** What to change instead of a record the manager keeps ("the website's domains"). */
export async function managerChange(m: Manager): Promise<string> {
  return (await recordManagers()).get(m.kind)?.change ?? `the ${m.kind}`;
}

/**
 * The kinds of managers every domain declares, looked up once. Imported when first needed: the
 * domain list holds the domains whose plans call into here.
 */
let managerKinds: Promise<Map<string, RecordManager>> | undefined;
export function recordManagers(): Promise<Map<string, RecordManager>> {
  managerKinds ??= import('../domains.ts').then(
    ({ domains }) => new Map(domains.flatMap((d) => d.recordManagers ?? []).map((m) => [m.kind, m])),
  );
  return managerKinds;
}
