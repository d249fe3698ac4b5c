import { certIssue } from '../../../queues/certificates/ops.ts';
import { issueServiceCertificate } from '../service.ts';
import { defineHandler } from '../../runtime/define.ts';
import { issueAndInstall } from './run.ts';

export default defineHandler({
  op: certIssue,
  run: (payload, ctx) => ('service' in payload ? issueServiceCertificate(payload, ctx, false) : issueAndInstall(payload, ctx, false)),
});
