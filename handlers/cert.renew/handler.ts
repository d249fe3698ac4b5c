import { certRenew } from '../../queues/ops/cert.ts';
import { issueServiceCertificate } from '../cert-service.ts';
import { defineHandler } from '../define.ts';
import { issueAndInstall } from '../cert.issue/run.ts';

export default defineHandler({
  op: certRenew,
  run: (payload, ctx) => ('service' in payload ? issueServiceCertificate(payload, ctx, true) : issueAndInstall(payload, ctx, true)),
});
