import { certRenew } from '../../queues/ops/cert.ts';
import { defineHandler } from '../define.ts';
import { issueAndInstall } from '../cert.issue/run.ts';

export default defineHandler({
  op: certRenew,
  run: (payload, ctx) => issueAndInstall(payload, ctx, true),
});
