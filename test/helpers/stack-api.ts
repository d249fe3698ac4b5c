/**
 * Calling a test stack's API as one of its users ('admin', or a tenant with a token), and
 * waiting for the jobs a change started.
 */
import assert from 'node:assert/strict';

export type Json = Record<string, any>;
export type Api = (method: string, path: string, body?: unknown) => Promise<{ status: number; body: Json }>;

const FINAL = new Set(['succeeded', 'failed', 'dead', 'superseded']);

/** `stackOf`: the stack once started (a test's `before` starts it after the calls are defined). */
export function stackApi(stackOf: () => { url?: string | null; adminToken?: string | null } | undefined, tokens: Record<string, string>) {
  const api =
    (who: string): Api =>
    async (method, path, body) => {
      const stack = stackOf();
      if (!stack) throw new Error('the stack has not started');
      const res = await fetch(`${stack.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${who === 'admin' ? stack.adminToken : tokens[who]}`,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : null };
    };
  /** The job once it is final (two minutes at most). */
  const settled = async (job: Json, who = 'admin'): Promise<Json> => {
    for (let i = 0; i < 1200; i++) {
      const { body } = await api(who)('GET', `/v1/jobs/${job.id}`);
      if (FINAL.has(body.status)) return body;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`job ${job.id} (${job.op}) did not finish`);
  };
  /** 202, and every job of the change succeeded (certificates' aside when `skipCerts`: a lab without an ACME CA). */
  const succeeded = async (response: { status: number; body: Json }, who = 'admin', skipCerts = false): Promise<Json> => {
    assert.equal(response.status, 202, JSON.stringify(response.body));
    const jobs = ((response.body.jobs ?? [response.body]) as Json[]).filter((job) => !skipCerts || !job.op.startsWith('cert.'));
    for (const job of jobs) {
      const done = await settled(job, who);
      assert.equal(done.status, 'succeeded', `${done.op} on ${done.target}: ${JSON.stringify(done.error)}`);
    }
    return response.body;
  };
  return { api, settled, succeeded };
}
