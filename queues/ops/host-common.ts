import { Type } from 'typebox';
import { HostRef } from '../host-ref.ts';
import type { RetryPolicy } from '../operation.ts';

/** What a host can be for; each role brings the Debian packages `host.prepare` installs. */
export const HOST_ROLES = ['proxy', 'web', 'dns', 'mail', 'db', 'container', 'hypervisor', 'backup'] as const;
export type HostRole = (typeof HOST_ROLES)[number];

export const ROLE_PACKAGES: Record<HostRole, readonly string[]> = {
  // certbot runs on the proxy members: HTTP-01 through their nginx, DNS-01 through RFC 2136.
  proxy: ['nginx', 'certbot', 'python3-certbot-dns-rfc2136'],
  web: ['nginx'],
  dns: ['bind9', 'bind9-dnsutils'],
  mail: ['postfix', 'dovecot-imapd'],
  db: ['postgresql', 'mariadb-server'],
  container: ['podman'],
  hypervisor: ['libvirt-daemon-system', 'qemu-system-x86'],
  backup: ['restic'],
};

/** The packages for a set of roles, each once, in a stable order. */
export function packagesForRoles(roles: readonly HostRole[]): string[] {
  return [...new Set(roles.flatMap((role) => ROLE_PACKAGES[role]))].sort();
}

export const HostRoleSchema = Type.Enum([...HOST_ROLES], { description: `one of ${HOST_ROLES.join(', ')}` });

/** Debian package names, as `host.prepare` and `host.update` report them. */
export const PACKAGE_NAME_PATTERN = '^[a-z0-9][a-z0-9+.-]{0,99}$';

/**
 * The HostRef shape inside a payload. A copy without `$id`: a payload is a schema component of
 * its own, and nesting a second component with an id inside it would clash in the API's
 * schema registry.
 */
export const HostTarget = Type.Object({ ...HostRef.properties }, { additionalProperties: false, description: 'the host, as the gateway snapshotted it' });

/** Hosts that do not answer are retried briefly: the admin wants the verdict soon. */
export const HOST_RETRY: RetryPolicy = { maxAttempts: 3, tiersMs: [1_000, 5_000] };
