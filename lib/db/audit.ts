import type { Knex } from 'knex';
import { newId } from '../ids.ts';
import { prepared } from './prepared.ts';

export const AUDIT_OUTCOMES = ['ok', 'denied', 'rejected', 'error'] as const;
export type AuditOutcome = (typeof AUDIT_OUTCOMES)[number];

export interface AuditRow {
  id: string;
  at: Date;
  /** The user the request ran as. */
  user_id: string | null;
  actor: string | null;
  /** The admin who asked, when they acted as the user (`X-Up-As`). */
  impersonator_id: string | null;
  impersonator: string | null;
  token_id: string | null;
  ip: string;
  method: string;
  route: string;
  resource_id: string | null;
  job_id: string | null;
  status_code: number;
  outcome: AuditOutcome;
}

export const outcomeOf = (status: number): AuditOutcome =>
  status < 400 ? 'ok' : status === 401 || status === 403 || status === 429 ? 'denied' : status < 500 ? 'rejected' : 'error';

/** Many entries in one INSERT: the audit trail of concurrent requests costs one commit. */
export async function recordAudits(db: Knex, entries: readonly Omit<AuditRow, 'id' | 'at'>[]): Promise<undefined[]> {
  await insertAudits(db, [JSON.stringify(entries.map((entry) => ({ id: newId(), ...entry })))]);
  return entries.map(() => undefined);
}
const insertAudits = prepared(
  'up_insert_audits',
  `INSERT INTO audit (id, user_id, actor, impersonator_id, impersonator, token_id, ip, method, route, resource_id, job_id, status_code, outcome)
   SELECT * FROM json_to_recordset(?::json) AS a(id uuid, user_id uuid, actor text, impersonator_id uuid, impersonator text,
     token_id uuid, ip text, method text, route text, resource_id text, job_id uuid, status_code int, outcome text)`,
);

export interface AuditFilter {
  /** Only this user's entries (always set for non-admins). */
  userId?: string;
  /** Only the requests of the user with this name: their own, or made as someone else. */
  actor?: string;
  method?: string;
  outcome?: AuditOutcome;
  jobId?: string;
  limit: number;
}

export function listAudit(db: Knex, filter: AuditFilter): Knex.QueryBuilder {
  const query = db('audit').orderBy('id', 'desc').limit(filter.limit);
  if (filter.userId) query.where('user_id', filter.userId);
  if (filter.actor) query.where((q) => q.where('actor', filter.actor!).orWhere('impersonator', filter.actor!));
  if (filter.method) query.where('method', filter.method);
  if (filter.outcome) query.where('outcome', filter.outcome);
  if (filter.jobId) query.where('job_id', filter.jobId);
  return query;
}
