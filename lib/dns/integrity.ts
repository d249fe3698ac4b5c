/**
 * BIND's integrity checks (check-integrity, on by default for primary zones), done before a
 * change is accepted, on the records the zone will hold after it: an MX, SRV or NS whose target
 * lies in the zone (and not under a delegation to other servers) needs an address record there,
 * and may not point at a CNAME. BIND refuses such an MX in an UPDATE (REFUSED). Such an SRV or
 * NS, or the deletion of the address an MX needs, it takes, but reports as an error at every
 * load (named-checkzone too): a service nobody can reach, a lame delegation, an MX that a repair
 * could never put back. None of them can be what the user wants, so the API refuses them all,
 * naming the field.
 */
import { InputError } from '../errors.ts';
import type { RecordSpec } from './validate.ts';

export interface IntegrityChange {
  /** The records of the zone (PostgreSQL's desired state) that stay: all but those in `removing`. */
  staying: readonly RecordSpec[];
  /** Records this request removes (a delete, or the old value of a patch). */
  removing?: readonly RecordSpec[];
  /** Records this request adds, with the field each came in. */
  adding?: readonly { spec: RecordSpec; field: string }[];
  /** Where a refusal caused by `removing` points (a delete has no body: `params/id`). */
  removingField?: string;
  /** Names with an address the zone has outside its records: its in-zone nameserver. */
  addressed?: readonly string[];
}

const TARGETED = new Set(['MX', 'SRV', 'NS']);

function targetOf(spec: RecordSpec): string | undefined {
  return spec.type === 'MX' ? spec.exchange : TARGETED.has(spec.type) ? spec.target : undefined;
}

function targetField(spec: RecordSpec): string {
  return spec.type === 'MX' ? 'exchange' : 'target';
}

const inZone = (name: string, zone: string) => name === zone || name.endsWith(`.${zone}`);

function describeRecord(spec: RecordSpec): string {
  const data =
    spec.type === 'MX'
      ? `${spec.preference} ${spec.exchange}`
      : spec.type === 'SRV'
        ? `${spec.priority} ${spec.weight} ${spec.port} ${spec.target}`
        : spec.target;
  return `${spec.name} ${spec.type} ${data}`;
}

/** Throws an InputError (400) when the zone after the change would fail BIND's integrity checks. */
export function checkIntegrity(zone: string, change: IntegrityChange): void {
  const removing = change.removing ?? [];
  const adding = change.adding ?? [];
  const after = [...change.staying, ...adding.map((a) => a.spec)];
  const addressed = new Set(change.addressed ?? []);
  const cnames = new Set<string>();
  const delegations = new Set<string>();
  for (const spec of after) {
    if (spec.type === 'A' || spec.type === 'AAAA') addressed.add(spec.name);
    if (spec.type === 'CNAME') cnames.add(spec.name);
    if (spec.type === 'NS' && spec.name !== zone) delegations.add(spec.name);
  }
  /** The delegation point a name lies under (itself included), if any: below it the zone is not authoritative. */
  const delegationOf = (name: string): string | null => {
    for (let at = name; at !== zone && at.includes('.'); at = at.slice(at.indexOf('.') + 1)) if (delegations.has(at)) return at;
    return null;
  };
  /** Why the zone could not hold `spec`: its target is a CNAME, or has no address; null when it can. */
  const problem = (spec: RecordSpec): 'cname' | 'address' | null => {
    const target = targetOf(spec);
    if (target === undefined || !inZone(target, zone)) return null;
    const delegation = delegationOf(target);
    // An MX or SRV target under a delegation is the child zone's business; an NS needs glue for its own delegation.
    if (delegation !== null && !(spec.type === 'NS' && delegation === spec.name)) return null;
    if (cnames.has(target)) return 'cname';
    return addressed.has(target) ? null : 'address';
  };

  for (const { spec, field } of adding) {
    const why = problem(spec);
    const target = targetOf(spec);
    if (why === 'cname')
      throw new InputError(`${field}/${targetField(spec)}`, `${target} is a CNAME; an ${spec.type} must point at a name with an address`);
    if (why === 'address')
      throw new InputError(
        `${field}/${targetField(spec)}`,
        `${target} lies in the zone ${zone} and has no A or AAAA record: the DNS server refuses an ${spec.type} whose in-zone target has no address (add the address first, or in the same request)`,
      );
  }
  if (removing.length === 0) return;
  // A removal can only break what points at a name it touched; older broken records do not block it.
  const touched = new Set(removing.map((r) => r.name));
  for (const spec of change.staying) {
    const target = targetOf(spec);
    if (target === undefined || !touched.has(target) || problem(spec) === null) continue;
    throw new InputError(
      change.removingField ?? 'params/id',
      `is the last address of ${target}, which ${describeRecord(spec)} points at: the DNS server refuses an ${spec.type} whose in-zone target has no address; change or delete that ${spec.type} record first`,
    );
  }
}
