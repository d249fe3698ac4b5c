/** Names of tenants' secrets: the pattern the API, the messages and the host share. */

/** A secret's name: unique per owner; a file name under /run/secrets and part of a podman secret name, so nothing else. */
export const SECRET_NAME = '^[a-z][a-z0-9_-]{0,62}$';

/** The podman secret on a host: per tenant (`up.<tenant>.<name>`; tenant names have no dot), shared by the tenant's containers there. */
export const podmanSecretName = (tenant: string, name: string) => `up.${tenant}.${name}`;
