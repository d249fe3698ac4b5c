import { certRenew } from '../../../queues/certificates/ops.ts';
import { issueServiceCertificate } from '../service.ts';
import { defineHandler } from '../../runtime/define.ts';
import { issueAndInstall } from '../cert.issue/run.ts';

export default defineHandler({
  op: certRenew,
  run: (payload, ctx) => ('service' in payload ? issueServiceCertificate(payload, ctx, true) : issueAndInstall(payload, ctx, true)),
});
