import { certIssue } from '../../queues/ops/cert.ts';
import { issueServiceCertificate } from '../cert-service.ts';
import { defineHandler } from '../define.ts';
import { issueAndInstall } from './run.ts';

export default defineHandler({
  op: certIssue,
  run: (payload, ctx) => ('service' in payload ? issueServiceCertificate(payload, ctx, false) : issueAndInstall(payload, ctx, false)),
});
