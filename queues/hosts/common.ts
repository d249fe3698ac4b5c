import { Type } from 'typebox';
import { HostRef } from '../host-ref.ts';
import type { RetryPolicy } from '../operation.ts';

/** A host role's name (`dns`, `proxy`, `containers`): each domain declares the roles it sets hosts up for. */
export const HOST_ROLE_PATTERN = '^[a-z][a-z0-9-]{0,30}$';

/** Debian package names, as `host.prepare` and `host.update` report them. */
export const PACKAGE_NAME_PATTERN = '^[a-z0-9][a-z0-9+.-]{0,99}$';

/**
 * The HostRef shape inside a payload. A copy without `$id`: a payload is a schema component of
 * its own, and nesting a second component with an id inside it would clash in the API's
 * schema registry.
 */
export const HostTarget = Type.Object(
  { ...HostRef.properties },
  { additionalProperties: false, description: 'the host, as the gateway snapshotted it' },
);

/** Hosts that do not answer are retried briefly: the admin wants the verdict soon. */
export const HOST_RETRY: RetryPolicy = { maxAttempts: 3, tiersMs: [1_000, 5_000] };
