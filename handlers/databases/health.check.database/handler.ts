import { RetryableError } from '../../../lib/errors.ts';
import type { Problem } from '../../../queues/health/checks.ts';
import { healthCheckDatabase } from '../../../queues/databases/health.ts';
import { defineHandler } from '../../runtime/define.ts';
import { inspectDatabase } from '../inspect.ts';

/**
 * The database as stored against the database on its server: it exists, its owner (PostgreSQL),
 * each stored grant with its access, no grantee up does not know, each grantee's user there;
 * its size, and the owner's plan for all their databases together.
 */
export default defineHandler({
  op: healthCheckDatabase,
  async run({ resource, server, database, grants, size }, ctx) {
    const exec = ctx.connect(server.host);
    let seen: Awaited<ReturnType<typeof inspectDatabase>>;
    try {
      seen = await inspectDatabase(exec, server, database.name, grants, ctx.signal);
    } catch (error) {
      if (!(error instanceof RetryableError)) throw error;
      return {
        resource,
        healthy: false,
        problems: [{ cause: 'unreachable', message: `${server.engine} server ${server.name}: ${error.message.slice(0, 500)}` }],
        measurements: {} as Record<string, number>,
      };
    }
    const where = `database ${database.name} on ${server.name}`;
    const problems: Problem[] = [];
    if (!seen.exists) problems.push({ cause: 'database-missing', message: `${where} does not exist` });
    else {
      if (!seen.ownerOk) problems.push({ cause: 'owner-drifted', message: `${where} is not owned by its owner role` });
      for (const g of grants) {
        if (!seen.users.has(g.user)) problems.push({ cause: 'user-missing', message: `user ${g.user} of ${where} does not exist` });
        else if (seen.grants.get(g.user) !== g.access)
          problems.push({
            cause: 'grant-drifted',
            message: `${g.user} has ${seen.grants.get(g.user) ?? 'no'} access to ${where}, not ${g.access}`,
          });
      }
      const known = new Set(grants.map((g) => g.user));
      const extra = [...seen.grants.keys()].filter((u) => !known.has(u));
      if (extra.length) problems.push({ cause: 'grant-drifted', message: `${extra.join(', ')} may use ${where} without a grant` });
    }
    if (size.othersBytes + seen.sizeBytes > size.limitBytes)
      problems.push({
        cause: 'size-over-limit',
        message: `the owner's databases use ${size.othersBytes + seen.sizeBytes} bytes, more than the plan's ${size.limitBytes} (${where}: ${seen.sizeBytes})`,
      });
    return { resource, healthy: problems.length === 0, problems, measurements: { sizeBytes: seen.sizeBytes } };
  },
});
