/** Service certificates (postfix, dovecot, PostgreSQL, MariaDB, nginx on a host): where they go, and their messages. */
import type { Knex } from 'knex';
import { BASE_DIR } from '../../lib/validate/web.ts';
import {
  SERVICE_CERT_BASE_DIR,
  SERVICE_CERT_DEPLOY_DIR,
  serviceOfCertName,
  type ServiceCertPayload,
} from '../../queues/certificates/service.ts';
import { hostRefOf, type HostRow } from '../hosts/store.ts';
import { dnsChallengeServer, type CertificateRow } from './store.ts';

export const BASE_DIR_LABEL = 'certs.base-dir';
export const DEPLOY_DIR_LABEL = 'certs.deploy-dir';

/** Where certbot keeps its state and where the pair goes on this host; a bad label names itself. */
export function serviceDirs(host: HostRow): { baseDir: string; deployDir: string } | { error: string } {
  const labels = host.labels ?? {};
  const dirs = { baseDir: labels[BASE_DIR_LABEL] ?? SERVICE_CERT_BASE_DIR, deployDir: labels[DEPLOY_DIR_LABEL] ?? SERVICE_CERT_DEPLOY_DIR };
  const pattern = new RegExp(BASE_DIR);
  for (const [label, dir] of [
    [BASE_DIR_LABEL, dirs.baseDir],
    [DEPLOY_DIR_LABEL, dirs.deployDir],
  ] as const) {
    if (!pattern.test(dir) || dir.length > 256)
      return {
        error: `host ${host.name}: label ${label} must be an absolute path without '..' (it is ${JSON.stringify(dir.slice(0, 80))})`,
      };
  }
  return dirs;
}

/** The message for a service certificate; null when its host, service or zone server is gone (nothing to issue on). */
export async function serviceCertPayload(db: Knex, cert: CertificateRow): Promise<ServiceCertPayload | null> {
  const service = serviceOfCertName(cert.name);
  const host: HostRow | undefined = cert.host_id ? await db('hosts').where({ id: cert.host_id }).first() : undefined;
  const server = await dnsChallengeServer(db, cert.names);
  if (!service || !host || !server) return null;
  const dirs = serviceDirs(host);
  if ('error' in dirs) return null;
  return {
    certificate: { id: cert.id, name: cert.name },
    names: cert.names,
    challenge: 'dns-01',
    host: await hostRefOf(db, host),
    service: { name: service, ...dirs },
    dns: { address: server.address, port: server.port, keyName: server.keyName, algorithm: server.algorithm },
  };
}
