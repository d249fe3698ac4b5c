/**
 * What a domain of `up` (dns, websites, certificates, …) contributes to the control plane,
 * declared once in `gateway/<domain>/index.ts`. The gateway, the recorder, the scheduler,
 * user removal and host set-up loop over `domains` (gateway/domains.ts) and take the parts
 * they run: no hub to edit when a domain is added, and no import-time side effects.
 *
 * The declaration holds plain values and functions; its routes are imported lazily, so that
 * the recorder and the scheduler, which need observers and checks, never load fastify routes.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { TSchema } from 'typebox';
import type { ManagedRecord } from './dns/managed.ts';
import type { ManagedBy } from './dns/managed-store.ts';
import type { HealthPolicy } from './health/store.ts';
import type { HostRow } from './hosts/store.ts';
import type { Bus } from '../queues/bus.ts';
import type { HostRef } from '../queues/host-ref.ts';
import type { CheckResult } from '../queues/health/checks.ts';
import type { Operation } from '../queues/operation.ts';
import type { CheckObserverEntry, ObserverEntry } from './observe.ts';
import type { Outbox } from './outbox.ts';
import type { JobPlan } from './plan.ts';
import type { Replanner } from './retry.ts';

export interface Domain {
  /** The folder (`gateway/<name>/`, `handlers/<name>/`, `queues/<name>/`), the CLI noun, the API path prefix and the OpenAPI tag. */
  name: string;
  /** The OpenAPI tag's description. */
  description: string;
  /**
   * Where the domain's names differ on purpose from `name`, and why: operations are
   * `resource.verb` in the singular (`website.apply`), health operations `health.<verb>.<type>`.
   */
  names?: { ops?: string[]; paths?: string[]; cli?: string[]; why: string };
  /** API shapes registered with `$id`, so that OpenAPI names them as components. */
  schemas?: TSchema[];
  /** The route plugins, imported when the gateway starts (never by the recorder or the scheduler). */
  routes?: () => Promise<FastifyPluginAsync<DomainContext>[]>;
  /** What the recorder does with the outcomes of the domain's operations: the observed state. */
  observers?: ObserverEntry[];
  /** The domain's operations whose outcome changes no stored state beyond the job row, and why (by operation name). */
  unobserved?: Record<string, string>;
  /** How the domain's resources are checked, judged and repaired by the health daemon. */
  checks?: CheckKind[];
  /** Resources users own: scoped, counted against plans, removed with their user. */
  owned?: OwnedKind[];
  /** What `up hosts prepare` does on a host of one of the domain's roles. */
  roles?: RoleSetup[];
  /** Timed work of the active scheduler. */
  timers?: Timer[];
  /** Kinds of the domain's resources that keep DNS records (a website's domains): gateway/dns/managed.ts. */
  recordManagers?: RecordManager[];
  /** How a failed job of each operation is planned again (POST /v1/jobs/{id}/retry), by operation name. */
  retries?: Record<string, Replanner>;
}

/** What every route plugin gets. */
export interface DomainContext {
  db: Knex;
  bus: Bus;
  outbox: Outbox;
}

/** A kind of checked resource (`website`, `dns-zone`): its checks each round, and how they are judged. */
export interface CheckKind {
  /** The `resource.type` its checks report. */
  type: string;
  /** The check operation, whose outcomes the recorder folds into the resources' health. */
  op: Operation;
  /** Hysteresis, what is another resource's to alarm, and the repair. */
  policy: HealthPolicy;
  /** The checks of one round, planned like jobs and published without a job row. */
  plan(db: Knex, round: CheckRound): Promise<JobPlan[]>;
  /**
   * The keys this type still has, so that the health of deleted resources is forgotten;
   * default: the keys of this round's checks. Hosts in maintenance are not checked, but still there.
   */
  keys?(db: Knex, planned: readonly JobPlan[]): Promise<Set<string>>;
  /** Whose the resource is (users see the health and alarms of their own); default: admins only. */
  owner?(db: Knex, key: string): Promise<string | null>;
  /** A check's outcome that proves nothing any more (it judged a version the resource no longer has): not folded in. */
  stale?(db: Knex, check: CheckResult): Promise<boolean>;
}

/** What every check kind of one round shares: the hosts' refs, looked up once. */
export interface CheckRound {
  refOf(host: HostRow): Promise<HostRef>;
  /** Every domain's host roles. */
  roles: readonly RoleSetup[];
}

/** A kind of resource users own. */
export interface OwnedKind {
  /** Plural, as in the API (`websites`, `dnsZones`): names the kind in 404s, limits and the isolation matrix. */
  kind: string;
  table: string;
  /** Default `owner_id`. */
  ownerColumn?: string;
  /**
   * The jobs that remove one resource from its hosts, as its own DELETE route plans them;
   * the row goes now (in `trx`) or later (by the jobs' observers).
   */
  planRemoval(trx: Knex.Transaction, row: Record<string, unknown>): Promise<JobPlan[]>;
}

/**
 * A host role: the Debian packages `host.prepare` installs for it, and the job that sets the
 * role up once they are there (BIND for `dns`), planned when host.prepare succeeded; null when
 * there is nothing to set up (yet).
 */
export interface RoleSetup {
  role: string;
  packages: readonly string[];
  /** TCP ports the role explains on a host (the security check's unexplained listeners). */
  ports?: readonly number[];
  /** TCP ports the role's resources on this host were given (a container's published ports). */
  portsOf?(db: Knex, host: HostRow): Promise<number[]>;
  setup?(db: Knex, host: HostRow): Promise<JobPlan | null>;
  /** dovecot's log on the role's hosts: the security check counts failed mail logins per account in it. */
  mailAuthLog?: string;
}

/** A kind of resource that keeps DNS records in hosted zones, as `dns_records.manager_kind`. */
export interface RecordManager {
  /** Stored in `manager_kind` and shown in the records API (`managedBy.kind`). */
  kind: string;
  /** Its table, with `id` and `name` columns. */
  table: string;
  /** How messages name one: "website" → "kept for website shop". */
  label: string;
  /** What a user changes instead of such a record: "the website's domains". */
  change: string;
  /**
   * The records this kind's resources keep in the zones of `zoneOwner`: what a zone created after
   * them takes in with its first file (gateway/dns/managed.ts, adoptedRecords).
   */
  wanted(db: Knex, zoneOwner: { id: string; admin: boolean }): Promise<WantedRecords[]>;
}

/** One resource's managed records, by absolute name. */
export interface WantedRecords {
  by: ManagedBy;
  records: ManagedRecord[];
}

/** Work the active scheduler runs every `everyMs`, never overlapping itself. */
export interface Timer {
  name: string;
  everyMs(settings: TimerSettings): number;
  /** `intervalMs`: this timer's own interval (what `everyMs` gave). */
  run(context: { db: Knex; outbox: Outbox; log: Logger; intervalMs: number }): Promise<unknown>;
}

export interface TimerSettings {
  certRenewIntervalMs?: number;
}

/** A domain declaration, checked for its type. */
export const defineDomain = (domain: Domain): Domain => domain;

export type { CheckObserverEntry, ObserverEntry };
