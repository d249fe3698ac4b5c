/**
 * Delivering a tenant's secrets to podman on the host. The message carries each value sealed
 * (queues/containers/ops.ts ContainerSecret); here, and only here, it is opened with the key in
 * UP_SECRETS_KEY_FILE and piped over SSH stdin into `podman secret create NAME -`: never an
 * argument (argv is world-readable in /proc), never a file of ours, never a log line. Podman's
 * secret store (/var/lib/containers/storage/secrets) is root's alone.
 *
 * A container reads a secret as a read-only file at /run/secrets/<name> (podman `--secret
 * …,type=mount`). An environment variable is made from that file at the container's start by a
 * one-line /bin/sh wrapper, not by podman's `type=env`: podman 4.3 (Debian 12) writes an env
 * secret's value into the container's config, where `podman inspect` shows it in Config.Env.
 */
import { PermanentError } from '../../lib/errors.ts';
import { script, sh, type Command, type Executor } from '../../lib/exec/index.ts';
import { loadSecretsKeys, openWithAny, secretAad } from '../../lib/secrets/sealing.ts';
import { podmanSecretName } from '../../lib/validate/secrets.ts';
import type { ContainerSecret, ContainerSpec } from '../../queues/containers/ops.ts';
import type { HandlerContext } from '../runtime/define.ts';
import { LABEL_MANAGED, type EntryOverride } from './podman.ts';

/** Held while a tenant's podman secrets are written, used by a new container, or swept. */
export const secretsLock = (tenant: ContainerSpec['tenant']) => `secrets-${tenant.network}`;

const DIGEST_LABEL = 'up.digest';
const SECRET_LABEL = 'up.secret';
const VERSION_LABEL = 'up.version';

/** What a podman secret on the host holds, from its labels. */
export interface DeliveredSecret {
  digest: string;
  secretId: string;
  version: number;
}

/**
 * Whether a podman secret must be written with the message's value: not when it holds that
 * value, nor when it holds a newer value of the same secret (a message that arrived late, or a
 * job retried after a newer one: its container gets the newer value, which is the stored one).
 */
export function mustWrite(have: DeliveredSecret | undefined, secret: ContainerSecret): boolean {
  if (!have) return true;
  if (have.digest === secret.digest) return false;
  const sameSecret = secret.secretId !== undefined && have.secretId === secret.secretId;
  return !(sameSecret && secret.version !== undefined && have.version > secret.version);
}

function parseDelivered(stdout: string): Map<string, DeliveredSecret> {
  const have = new Map<string, DeliveredSecret>();
  for (const line of stdout.split('\n')) {
    const [name, labels] = line.trim().split(/\s+/);
    if (!name || !labels || labels === 'none') continue;
    const [digest = '', secretId = '', version = ''] = labels.split('/');
    have.set(name, { digest, secretId, version: Number(version) || 0 });
  }
  return have;
}

/**
 * Makes every secret of the spec exist in podman at its digest: one probe for all, then one
 * `podman secret create` (value on stdin) for each that is missing or holds another value.
 * The caller holds secretsLock. Secrets are per tenant, shared by the tenant's containers.
 */
export async function deliverSecrets(exec: Executor, spec: ContainerSpec, ctx: HandlerContext): Promise<number> {
  const secrets = spec.secrets ?? [];
  if (secrets.length === 0) return 0;
  const keys = loadSecretsKeys();
  if (!keys)
    throw new PermanentError(`UP_SECRETS_KEY_FILE is not set on this handler: it cannot deliver the secrets of ${spec.key}`, {
      code: 'SECRETS_KEY_MISSING',
    });
  const names = secrets.map((s) => podmanSecretName(spec.tenant.name, s.name));
  const probe = await exec.runScript(
    script(
      ...names.map(
        (name) =>
          sh`echo ${name} $(podman secret inspect --format ${`{{index .Spec.Labels "${DIGEST_LABEL}"}}/{{index .Spec.Labels "${SECRET_LABEL}"}}/{{index .Spec.Labels "${VERSION_LABEL}"}}`} ${name} 2>/dev/null || echo none)`,
      ),
    ),
    { signal: ctx.signal },
  );
  const have = parseDelivered(probe.stdout);
  let written = 0;
  for (const [i, secret] of secrets.entries()) {
    const name = names[i];
    if (!mustWrite(have.get(name), secret)) continue;
    const value = openSecret(keys, secret);
    // No `--replace` in podman 4.3: remove, then create. A running container keeps the copy it mounted.
    await exec.run(
      sh`podman secret rm ${name} >/dev/null 2>&1 </dev/null || true; podman secret create --label ${`${LABEL_MANAGED}=true`} --label ${`up.owner=${spec.tenant.name}`} --label ${`${DIGEST_LABEL}=${secret.digest}`} --label ${`${SECRET_LABEL}=${secret.secretId ?? ''}`} --label ${`${VERSION_LABEL}=${secret.version ?? 0}`} ${name} - >/dev/null`,
      { stdin: value, signal: ctx.signal, timeoutMs: 60_000 },
    );
    written++;
  }
  ctx.log.info({ host: exec.host, container: spec.key, secrets: secrets.length, written }, 'container secrets delivered');
  return written;
}

function openSecret(keys: Buffer[], secret: ContainerSecret): Buffer {
  try {
    return openWithAny(keys, secretAad(secret.owner, secret.name), secret.sealed);
  } catch (error) {
    throw new PermanentError(
      `secret ${secret.name} does not open with any key of this handler's UP_SECRETS_KEY_FILE (is it the gateway's, with the keys before a rotation?): ${(error as Error).message}`,
      { code: 'SECRET_SEAL' },
    );
  }
}

/** What the image runs when nothing overrides it. */
export interface ImageEntry {
  entrypoint: string[];
  cmd: string[];
}

/** The image's entrypoint and command (pulled first when missing): what the env wrapper runs. */
export async function imageEntry(exec: Executor, image: string, ctx: HandlerContext): Promise<ImageEntry> {
  const out = await exec.runScript(
    script(
      sh`podman image exists ${image} || podman pull -q ${image} >/dev/null`,
      sh`podman image inspect --format '{{json .Config}}' ${image}`,
    ),
    { signal: ctx.signal, timeoutMs: 240_000 },
  );
  const config = JSON.parse(out.stdout.trim().split('\n').at(-1) || '{}') as { Entrypoint?: string[] | null; Cmd?: string[] | null };
  return { entrypoint: config.Entrypoint ?? [], cmd: config.Cmd ?? [] };
}

/**
 * With secrets given as variables: `--entrypoint` is a /bin/sh one-liner that exports each from
 * its mounted file, then execs what the container would have run (the image's entrypoint, then
 * the spec's command or the image's). Names and variables passed their patterns: no quoting is
 * needed inside the one-liner, and the values never appear in it.
 */
export function envWrapper(spec: ContainerSpec, entry: ImageEntry): EntryOverride | null {
  const vars = (spec.secrets ?? []).filter((s) => s.env);
  if (vars.length === 0) return null;
  const exports = vars.map((s) => `${s.env}="$(cat /run/secrets/${s.name})" && export ${s.env} && `).join('');
  const entrypoint = JSON.stringify(['/bin/sh', '-c', `${exports}exec "$@"`, 'up-secrets']);
  return {
    entrypoint: sh`--entrypoint ${entrypoint}`,
    args: [...entry.entrypoint, ...(spec.command.length ? spec.command : entry.cmd)],
  };
}

/**
 * Removes the tenant's podman secrets that none of the tenant's containers on the host uses
 * (after a delete, or an edit that dropped one). The caller holds secretsLock.
 */
export function sweepSecrets(tenant: ContainerSpec['tenant']): Command {
  const prefix = podmanSecretName(tenant.name, '');
  // When listing what is used fails, nothing is removed: a secret in use must never go. A tenant
  // with no secret on the host (the common case) costs one listing, not three.
  return script(
    sh`if names=$(podman secret ls --format '{{.Name}}'); then`,
    sh`  mine=''; for s in $names; do case "$s" in ${prefix}*) mine="$mine $s" ;; esac; done`,
    sh`  if [ -n "$mine" ] && used=" $(podman ps -a -q --filter ${`label=up.owner=${tenant.name}`} | xargs -r podman container inspect --format '{{range .Config.Secrets}}{{.Name}} {{end}}') "; then`,
    sh`    for s in $mine; do case "$used" in *" $s "*) ;; *) podman secret rm "$s" >/dev/null || true ;; esac; done`,
    sh`  fi`,
    sh`fi`,
  );
}
