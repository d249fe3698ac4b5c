/**
 * A certificate for a service on one host (postfix, dovecot, PostgreSQL, MariaDB, nginx):
 * certbot on that host through DNS-01 (RFC 2136; the host need not serve HTTP), the pair
 * installed where the service reads it. cert.issue and cert.renew carry this payload or the
 * proxy one (queues/ops/cert.ts); `service` tells them apart.
 */
import { Type, type Static } from 'typebox';
import { ASCII_DOMAIN, BASE_DIR } from '../../lib/validate/web.ts';
import { HostRef } from '../host-ref.ts';
import { KeyName, TsigAlgorithmSchema } from '../dns/ops.ts';
import { UUID_PATTERN } from '../../lib/ids.ts';

export const CERT_SERVICES = ['postfix', 'dovecot', 'postgresql', 'mariadb', 'nginx'] as const;
export type CertService = (typeof CERT_SERVICES)[number];
export const CertServiceSchema = Type.Enum([...CERT_SERVICES], { description: CERT_SERVICES.join(' | ') });

/** certbot's lineage name of a service's certificate (one per host and service). */
export const serviceCertName = (service: CertService) => `service-${service}`;
/** The service a lineage name belongs to, or null for a site's or a wildcard's. */
export function serviceOfCertName(name: string): CertService | null {
  const service = name.startsWith('service-') ? name.slice('service-'.length) : '';
  return (CERT_SERVICES as readonly string[]).includes(service) ? (service as CertService) : null;
}

/** Defaults; the host labels `certs.base-dir` and `certs.deploy-dir` override them. */
export const SERVICE_CERT_BASE_DIR = '/var/lib/up';
export const SERVICE_CERT_DEPLOY_DIR = '/etc/up/tls';

const NAME = `^(\\*\\.)?${ASCII_DOMAIN.slice(1)}`;

export const ServiceCertPayload = Type.Object(
  {
    certificate: Type.Object(
      { id: Type.String({ pattern: UUID_PATTERN }), name: Type.String({ pattern: `^service-(${CERT_SERVICES.join('|')})$` }) },
      { additionalProperties: false },
    ),
    names: Type.Array(Type.String({ pattern: NAME, maxLength: 253 }), { minItems: 1, maxItems: 100, uniqueItems: true }),
    challenge: Type.Literal('dns-01'),
    host: HostRef,
    service: Type.Object(
      {
        name: CertServiceSchema,
        /** certbot's directories: `<baseDir>/certbot`. */
        baseDir: Type.String({ pattern: BASE_DIR, maxLength: 256 }),
        /** The pair goes to `<deployDir>/<service>/{fullchain,privkey}.pem`. */
        deployDir: Type.String({ pattern: BASE_DIR, maxLength: 256 }),
      },
      { additionalProperties: false },
    ),
    dns: Type.Object(
      {
        address: Type.String({ pattern: '^[0-9a-fA-F.:]{2,45}$' }),
        port: Type.Integer({ minimum: 1, maximum: 65535 }),
        keyName: KeyName,
        algorithm: TsigAlgorithmSchema,
      },
      { additionalProperties: false, description: 'the RFC 2136 server of the zone; the TSIG secret stays with the handler' },
    ),
  },
  { additionalProperties: false },
);
export type ServiceCertPayload = Static<typeof ServiceCertPayload>;
