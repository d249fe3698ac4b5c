import { certIssue } from '../../queues/ops/cert.ts';
import { defineHandler } from '../define.ts';
import { issueAndInstall } from './run.ts';

export default defineHandler({
  op: certIssue,
  run: (payload, ctx) => issueAndInstall(payload, ctx, false),
});
