/**
 * What a user (tenant) may see of a job: their own resource, never how up reaches its machines.
 * Each operation declares its `tenantView` (queues/operation.ts); these are its building blocks.
 */

/** A host as a user may see it: its name (the job's target names it too), never its address, port, SSH user or key. */
export const hostName = (host: { name: string }) => ({ name: host.name });

const HOST_REF_KEYS = ['address', 'port', 'user', 'hostKeySha256'];

/** Whether `value` is a HostRef (or a jump hop): how a handler reaches a host. */
export function isHostRef(value: unknown): value is { name?: unknown } {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && HOST_REF_KEYS.every((key) => key in value);
}

/**
 * `value` with every HostRef-shaped object in it reduced to its name: the belt to each view's
 * braces, so that a view which passes a section through whole still leaks no host. What holds
 * no host is returned as it is (the same object), so that large record lists cost no copy.
 */
export function scrubHosts(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (isHostRef(value)) return typeof value.name === 'string' ? { name: value.name } : null;
  let copy: Record<string, unknown> | null = null;
  for (const key in value) {
    const inner = (value as Record<string, unknown>)[key];
    if (typeof inner !== 'object' || inner === null) continue;
    const scrubbed = scrubHosts(inner);
    if (scrubbed === inner) continue;
    copy ??= (Array.isArray(value) ? [...value] : { ...value }) as Record<string, unknown>;
    copy[key] = scrubbed;
  }
  return copy ?? value;
}
