import type { CommandEntry } from '../command.ts';

/**
 * Every top-level command, as `up --help` lists it: named after its domain (the gateway's
 * folder and API path), with the shorter words users type kept as aliases. A module loads only when its command
 * runs, so that `up --help` and `up ping` start without parsing the rest (or the server).
 */
export const COMMANDS: readonly CommandEntry[] = [
  {
    command: 'serve',
    role: true,
    describe: 'run every role in one process (without UP_DATABASE_URL/UP_AMQP_URL: embedded PGlite and in-process bus)',
    load: async () => (await import('./roles.ts')).serve,
  },
  {
    command: 'gateway',
    role: true,
    describe: 'run the HTTP API (and its outbox relay)',
    load: async () => (await import('./roles.ts')).gateway,
  },
  {
    command: 'handler <ops..>',
    role: true,
    describe: "run the handlers of the named operations (globs such as 'system.*')",
    load: async () => (await import('./roles.ts')).handler,
  },
  {
    command: 'recorder',
    role: true,
    describe: 'record job results and dead letters in the database',
    load: async () => (await import('./roles.ts')).recorder,
  },
  {
    command: 'scheduler',
    role: true,
    describe: 'run timed tasks (outbox reconciler, canary); one instance is active',
    load: async () => (await import('./roles.ts')).scheduler,
  },
  { command: 'db <action>', role: true, describe: 'database maintenance', load: async () => (await import('./roles.ts')).db },
  {
    command: 'ping',
    describe: 'send the system.ping canary through the whole pipeline',
    load: async () => (await import('./ping.ts')).ping,
  },
  { command: 'jobs', describe: 'list, show, follow and retry jobs', load: async () => (await import('./jobs.ts')).jobs },
  {
    command: 'queues',
    describe: 'per operation queue: ready, unacked and consumers, read from the broker',
    load: async () => (await import('./queues.ts')).queues,
  },
  { command: 'dlq', describe: 'dead letters: list and replay', load: async () => (await import('./dlq.ts')).dlq },
  {
    command: 'hosts',
    describe: 'the machines up manages: add, list, show, probe, prepare, update, label, maintenance, repin, remove',
    load: async () => (await import('./hosts.ts')).hosts,
  },
  { command: 'health', describe: 'the health of every checked resource', load: async () => (await import('./alarms.ts')).health },
  {
    command: 'alarms',
    describe: 'alarms raised by the health daemon: list and acknowledge',
    load: async () => (await import('./alarms.ts')).alarms,
  },
  {
    command: 'login',
    describe: 'check a token with the gateway and store it with the URL as a named context',
    load: async () => (await import('./auth.ts')).login,
  },
  {
    command: 'logout',
    describe: 'forget the stored login of the current (or --context) context; --revoke also revokes its token',
    load: async () => (await import('./auth.ts')).logout,
  },
  {
    command: 'whoami',
    describe: 'who the gateway takes you for, and where the token came from',
    load: async () => (await import('./auth.ts')).whoami,
  },
  { command: 'context', describe: 'stored logins: list, use, show, delete', load: async () => (await import('./auth.ts')).context },
  { command: 'tokens', describe: 'create, list and revoke API tokens', load: async () => (await import('./tokens.ts')).tokens },
  { command: 'users', describe: 'manage users, their plans and their state (admin)', load: async () => (await import('./users.ts')).users },
  {
    command: 'audit',
    describe: 'who changed what, newest first (admins: everyone; users: themselves)',
    load: async () => (await import('./audit.ts')).audit,
  },
  { command: 'dns', describe: 'DNS servers, zones and records (applied with RFC 2136)', load: async () => (await import('./dns.ts')).dns },
  {
    command: 'proxies',
    describe: 'proxy groups: nginx hosts serving a wildcard domain (admin)',
    load: async () => (await import('./proxies.ts')).proxies,
  },
  {
    command: 'websites',
    aliases: ['sites'],
    describe: 'websites: static files and upstreams behind a proxy group',
    load: async () => (await import('./websites.ts')).websites,
  },
  {
    command: 'mail',
    describe: 'mail domains, mailboxes and aliases',
    load: async () => (await import('./mail.ts')).mail,
  },
  {
    command: 'certificates',
    aliases: ['certs'],
    describe: 'TLS certificates kept by certbot: sites, proxy wildcards and host services',
    load: async () => (await import('./certificates.ts')).certificates,
  },
  {
    command: 'apps',
    describe: 'your applications from templates (django, node, container, static): deploy source, scale, roll back, logs',
    load: async () => (await import('./apps.ts')).apps,
  },
  {
    command: 'containers',
    describe: 'your services in podman containers: own id range and network, limits from your plan',
    load: async () => (await import('./containers.ts')).containers,
  },
  {
    command: 'secrets',
    describe: 'values your containers read (a file or a variable), stored sealed and never shown again',
    load: async () => (await import('./secrets.ts')).secrets,
  },
  {
    command: 'databases',
    describe: 'your PostgreSQL and MariaDB databases, and which users may use them',
    load: async () => (await import('./databases.ts')).databases,
  },
  {
    command: 'database-users',
    describe: 'your database users: create, passwords, delete',
    load: async () => (await import('./databases.ts')).databaseUsers,
  },
  {
    command: 'db-servers',
    describe: 'database servers on hosts (admin)',
    load: async () => (await import('./databases.ts')).dbServers,
  },
];
