import { Type, type Static } from 'typebox';
import { ASCII_DOMAIN } from '../../lib/validate/web.ts';
import { HostRef } from '../host-ref.ts';
import { defineOperation } from '../operation.ts';
import { ServiceCertPayload } from './service.ts';
import { hostName } from '../tenant-view.ts';
import { KeyName, TsigAlgorithmSchema } from '../dns/ops.ts';
import { NginxLayout } from '../proxies/ops.ts';
import { UUID_PATTERN } from '../../lib/ids.ts';

/** certbot's lineage name, also the directory `<baseDir>/tls/<name>` on every member. */
export const CERT_NAME = '^[a-z0-9][a-z0-9.-]{0,100}$';
/** A name on a certificate: a domain, or `*.` and a domain (DNS-01 only). */
export const CERT_DOMAIN = `^(\\*\\.)?${ASCII_DOMAIN.slice(1)}`;

export const WILDCARD_CERT = 'wildcard';
export const siteCertName = (siteKey: string) => `site-${siteKey}`;

/** Where a certificate lives on a proxy member; the key is root's alone (nginx's master reads it as root). */
export function tlsFiles(baseDir: string, certName: string) {
  const dir = `${baseDir}/tls/${certName}`;
  return { dir, cert: `${dir}/fullchain.pem`, key: `${dir}/privkey.pem` };
}

const Member = Type.Object({ host: HostRef, layout: NginxLayout }, { additionalProperties: false });

export const CertPayload = Type.Object(
  {
    certificate: Type.Object(
      { id: Type.String({ pattern: UUID_PATTERN }), name: Type.String({ pattern: CERT_NAME }) },
      { additionalProperties: false },
    ),
    names: Type.Array(Type.String({ pattern: CERT_DOMAIN, maxLength: 253 }), { minItems: 1, maxItems: 100, uniqueItems: true }),
    challenge: Type.Union([Type.Literal('http-01'), Type.Literal('dns-01')]),
    /** certbot runs here; HTTP-01 uses its `<baseDir>/acme` webroot (the other members pass it the requests). */
    issuer: Member,
    /** Every host that serves the certificate (the issuer included). */
    members: Type.Array(Member, { minItems: 1, maxItems: 64 }),
    dns: Type.Union([
      Type.Null(),
      Type.Object(
        {
          address: Type.String({ pattern: '^[0-9a-fA-F.:]{2,45}$' }),
          port: Type.Integer({ minimum: 1, maximum: 65535 }),
          keyName: KeyName,
          algorithm: TsigAlgorithmSchema,
        },
        { additionalProperties: false, description: 'DNS-01: the RFC 2136 server of the zone; the TSIG secret stays with the handler' },
      ),
    ]),
  },
  { additionalProperties: false, $id: 'CertPayload' },
);

export const CertResult = Type.Object(
  {
    notBefore: Type.String({ format: 'date-time' }),
    notAfter: Type.String({ format: 'date-time' }),
    issuer: Type.String(),
    serial: Type.String(),
    fingerprint: Type.String({ description: 'SHA-256 of the certificate' }),
    renewed: Type.Boolean({ description: 'the CA issued a new certificate (false: the current one was kept)' }),
    hosts: Type.Array(Type.String(), { description: 'members it was installed on' }),
  },
  { additionalProperties: false, $id: 'CertResult' },
);

const policy = { retry: { maxAttempts: 4, tiersMs: [5_000, 30_000, 120_000] }, timeoutMs: 300_000, concurrency: 4 };

/** The certificate and its names; of the hosts, their names (a service certificate's host is an admin's). */
function certTenantView(payload: Static<typeof CertPayload> | ServiceCertPayload) {
  const { certificate, names, challenge } = payload;
  const hosts = 'members' in payload ? payload.members.map((m) => hostName(m.host)) : [hostName(payload.host)];
  return { certificate, names, challenge, hosts };
}

export const certIssue = defineOperation({
  name: 'cert.issue',
  summary:
    'Obtain a certificate with certbot on the issuer host (HTTP-01 webroot or DNS-01 RFC 2136) unless a valid one covers the names, and install it on every member (or, for a host service, where the service reads it).',
  payload: Type.Union([CertPayload, ServiceCertPayload], { $id: 'CertIssuePayload' }),
  result: CertResult,
  ...policy,
  tenantView: certTenantView,
});

export const certRenew = defineOperation({
  name: 'cert.renew',
  summary:
    'Renew a certificate now (certbot --force-renewal on the issuer) and install the new one on every member (or for the host service).',
  payload: Type.Union([Type.Object(CertPayload.properties, { additionalProperties: false }), ServiceCertPayload], {
    $id: 'CertRenewPayload',
  }),
  result: Type.Object(CertResult.properties, { additionalProperties: false, $id: 'CertRenewResult' }),
  ...policy,
  tenantView: certTenantView,
});
