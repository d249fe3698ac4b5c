import { Type } from 'typebox';
import { ASCII_DOMAIN, BASE_DIR, NETWORK, NGINX_USER, PROXY_NAME } from '../../lib/validate/web.ts';
import { HostRef } from '../host-ref.ts';
import { defineOperation } from '../operation.ts';

/** host:port, [ipv6]:port or name:port of a member, for nginx's proxy_pass. */
const ACME_ISSUER = '^([a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?|\\[[0-9a-f:.]{2,45}\\]):[0-9]{1,5}$';

/** Where and how up's nginx runs on a proxy host: a snapshot of the group, carried by every web message. */
export const NginxLayout = Type.Object(
  {
    group: Type.String({ pattern: PROXY_NAME }),
    baseDir: Type.String({ pattern: BASE_DIR, maxLength: 256 }),
    httpPort: Type.Integer({ minimum: 1, maximum: 65535 }),
    nginxUser: Type.String({ pattern: NGINX_USER }),
    ipv6: Type.Boolean({ description: 'also listen on [::]' }),
    httpsPort: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, description: 'default 443' })),
    acmeIssuer: Type.Optional(
      Type.Union([Type.String({ pattern: ACME_ISSUER, maxLength: 260 }), Type.Null()], {
        description:
          "the group's certbot host (address:httpPort) that ACME HTTP-01 requests not found here are passed to; null on the issuer itself",
      }),
    ),
    upstreamNetworks: Type.Optional(
      Type.Array(Type.String({ pattern: NETWORK, maxLength: 49 }), {
        maxItems: 64,
        description: "the group's upstream networks (website.apply checks every route against them again); absent: unrestricted",
      }),
    ),
  },
  { additionalProperties: false, $id: 'NginxLayout' },
);

export const proxyApply = defineOperation({
  name: 'proxy.apply',
  summary: "Write a proxy group's base nginx configuration on one member host, validate it, reload (or start) nginx.",
  payload: Type.Object(
    {
      host: HostRef,
      layout: NginxLayout,
      wildcardDomain: Type.String({ pattern: ASCII_DOMAIN, maxLength: 200 }),
      generation: Type.Integer({ minimum: 1 }),
    },
    { additionalProperties: false, $id: 'ProxyApplyPayload' },
  ),
  result: Type.Object(
    {
      host: Type.String(),
      generation: Type.Integer(),
      changed: Type.Boolean(),
      started: Type.Boolean({ description: 'nginx was not running and was started' }),
    },
    { additionalProperties: false, $id: 'ProxyApplyResult' },
  ),
  retry: { maxAttempts: 5, tiersMs: [1_000, 5_000, 30_000] },
  timeoutMs: 120_000,
});
