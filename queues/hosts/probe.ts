import { Type } from 'typebox';
import { defineOperation } from '../operation.ts';
import { HOST_RETRY, HostTarget } from './common.ts';

/** The software `host.probe` looks for, and the Debian package that tells whether it is there. */
export const PROBED_SOFTWARE: Record<string, string> = {
  nginx: 'nginx',
  bind9: 'bind9',
  podman: 'podman',
  libvirt: 'libvirt-daemon-system',
  qemu: 'qemu-system-x86',
  postfix: 'postfix',
  dovecot: 'dovecot-core',
  postgresql: 'postgresql',
  mariadb: 'mariadb-server',
  restic: 'restic',
  certbot: 'certbot',
  'pure-ftpd': 'pure-ftpd',
};

const Nullable = <T extends ReturnType<typeof Type.Number>>(schema: T) => Type.Union([schema, Type.Null()]);

export const HostFacts = Type.Object(
  {
    os: Type.Object({ id: Type.String(), name: Type.String(), kernel: Type.String(), arch: Type.String() }),
    hostname: Type.String(),
    uptimeSeconds: Nullable(Type.Number()),
    load: Type.Array(Type.Number(), { description: '1, 5 and 15 minute load averages' }),
    cpus: Nullable(Type.Number()),
    memory: Type.Object({ totalMb: Nullable(Type.Number()), availableMb: Nullable(Type.Number()) }),
    disk: Type.Object({
      path: Type.String(),
      totalMb: Nullable(Type.Number()),
      usedMb: Nullable(Type.Number()),
      availableMb: Nullable(Type.Number()),
    }),
    software: Type.Record(Type.String(), Type.Union([Type.String(), Type.Null()]), {
      description: 'installed version of each probed piece of software, null when absent',
    }),
  },
  { additionalProperties: false, $id: 'HostFacts' },
);

export const hostProbe = defineOperation({
  name: 'host.probe',
  summary: "Collect a host's facts: OS, kernel, uptime, load, memory, disk and installed software with versions.",
  payload: Type.Object({ host: HostTarget }, { additionalProperties: false, $id: 'HostProbePayload' }),
  result: HostFacts,
  retry: HOST_RETRY,
  timeoutMs: 60_000,
});
