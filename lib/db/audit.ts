import type { Knex } from 'knex';
import { newId } from '../ids.ts';
import { prepared } from './prepared.ts';

export type AuditOutcome = 'ok' | 'denied' | 'rejected' | 'error';

export interface AuditRow {
  id: string;
  at: Date;
  user_id: string | null;
  actor: string | null;
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
export async function recordAudits(db: Knex, entries: readonly Omit<AuditRow, 'id' | 'at'>[]): Promise<void[]> {
  await insertAudits(db, [JSON.stringify(entries.map((entry) => ({ id: newId(), ...entry })))]);
  return entries.map(() => undefined);
}
const insertAudits = prepared(
  'up_insert_audits',
  `INSERT INTO audit (id, user_id, actor, token_id, ip, method, route, resource_id, job_id, status_code, outcome)
   SELECT * FROM json_to_recordset(?::json) AS a(id uuid, user_id uuid, actor text, token_id uuid, ip text, method text,
     route text, resource_id text, job_id uuid, status_code int, outcome text)`,
);

export interface AuditFilter {
  /** Only this user's entries (always set for non-admins). */
  userId?: string;
  method?: string;
  outcome?: AuditOutcome;
  jobId?: string;
  before?: string;
  limit: number;
}

export function listAudit(db: Knex, filter: AuditFilter): Knex.QueryBuilder {
  const query = db('audit').orderBy('id', 'desc').limit(filter.limit);
  if (filter.userId) query.where('user_id', filter.userId);
  if (filter.method) query.where('method', filter.method);
  if (filter.outcome) query.where('outcome', filter.outcome);
  if (filter.jobId) query.where('job_id', filter.jobId);
  if (filter.before) query.where('id', '<', filter.before);
  return query;
}
