import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { DenyList } from './validate/upstream.ts';

/** Thrown at start when a variable is wrong; the message names the variable. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export interface Config {
  databaseUrl: string | null;
  amqpUrl: string | null;
  amqpManagementUrl: string | null;
  httpHost: string;
  httpPort: number;
  /** Where this process serves /metrics and /healthz on their own (UP_METRICS_PORT); null: only the gateway's API port does. */
  metrics: { host: string; port: number } | null;
  dataDir: string;
  adminToken: string | null;
  logLevel: string;
  canaryIntervalMs: number;
  canaryTimeoutMs: number;
  reconcileIntervalMs: number;
  healthIntervalMs: number;
  alarmWebhookUrl: string | null;
  /** Alarm mail: an SMTP server (its URL may hold credentials: never logged) and who gets it. */
  alarmMail: AlarmMailSettings | null;
  /** Proxies in front of the gateway whose X-Forwarded-For is believed (addresses or CIDRs). */
  trustProxy: string[];
  /** How often the scheduler looks for certificates to renew (and failed ones to retry). */
  certRenewIntervalMs: number;
}

export interface ClientConfig {
  url: string;
  token: string | null;
  dataDir: string;
}

type Env = Record<string, string | undefined>;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function url(env: Env, name: string, protocols: string[]): string | null {
  const value = env[name]?.trim();
  if (!value) return null;
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new ConfigError(`${name} is not a valid URL`);
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(`${name} must start with ${protocols.map((p) => `${p}//`).join(' or ')} (got ${parsed.protocol}//)`);
  }
  return value;
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const value = env[name]?.trim();
  if (!value) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new ConfigError(`${name} must be an integer between ${min} and ${max} (got "${value}")`);
  }
  return Number(value);
}

function addressList(env: Env, name: string): string[] {
  const entries = (env[name] ?? '')
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean);
  for (const entry of entries) {
    const [address, prefix, extra] = entry.split('/');
    const family = isIP(address);
    if (
      !family ||
      extra !== undefined ||
      (prefix !== undefined && !(/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128)))
    ) {
      throw new ConfigError(`${name} must be a comma-separated list of addresses or CIDRs (bad entry "${entry}")`);
    }
  }
  return entries;
}

function host(env: Env, name: string, fallback: string): string {
  const value = env[name]?.trim() || fallback;
  if (!/^[A-Za-z0-9.:\-[\]]+$/.test(value)) throw new ConfigError(`${name} must be a host name or an address`);
  return value;
}

/**
 * Variables that carry secrets. Each may be given instead as <NAME>_FILE, the path of a file
 * holding the value: a systemd credential (LoadCredential=, %d) or a Kubernetes secret volume,
 * so that the secret is in no environment block, unit file or `ps e` output.
 */
export const SECRET_VARIABLES = ['UP_ADMIN_TOKEN', 'UP_DATABASE_URL', 'UP_AMQP_URL', 'UP_ALARM_SMTP_URL', 'UP_ALARM_WEBHOOK_URL'] as const;

/** The environment with every <NAME>_FILE read into <NAME>; messages name the variable and the file, never the content. */
export function withSecretFiles(env: Env): Env {
  let resolved = env;
  for (const name of SECRET_VARIABLES) {
    const file = env[`${name}_FILE`]?.trim();
    if (!file) continue;
    if (env[name]?.trim()) throw new ConfigError(`${name} and ${name}_FILE are both set; keep one`);
    if (!file.startsWith('/')) throw new ConfigError(`${name}_FILE must be an absolute path`);
    let content: string;
    try {
      content = readFileSync(file, 'utf8');
    } catch (error) {
      throw new ConfigError(`${name}_FILE: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    const value = content.trim();
    if (!value) throw new ConfigError(`${name}_FILE: ${file} is empty`);
    // A URL parser drops line breaks silently: a second line would be glued onto the value.
    if (/[\r\n]/.test(value)) throw new ConfigError(`${name}_FILE: ${file} must hold the value on one line`);
    resolved = { ...resolved, [name]: value };
  }
  return resolved;
}

function dataDir(env: Env): string {
  const value = env.UP_DATA_DIR?.trim();
  if (value) {
    if (!value.startsWith('/')) throw new ConfigError('UP_DATA_DIR must be an absolute path');
    return value;
  }
  return join(env.XDG_DATA_HOME || join(homedir(), '.local', 'share'), 'up');
}

/** The server roles' configuration, validated once at start. */
export function loadConfig(environment: Env = process.env): Config {
  const env = withSecretFiles(environment);
  const adminToken = env.UP_ADMIN_TOKEN?.trim() || null;
  if (adminToken !== null && !/^[A-Za-z0-9._~+/=-]{24,256}$/.test(adminToken)) {
    throw new ConfigError('UP_ADMIN_TOKEN must be 24 to 256 characters of letters, digits and ._~+/=-');
  }
  const logLevel = env.UP_LOG_LEVEL?.trim() || 'info';
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError(`UP_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}`);
  const metricsPort = env.UP_METRICS_PORT?.trim() ? integer(env, 'UP_METRICS_PORT', 0, 0, 65535) : null;
  // Read where it is used (gateway and website.apply handlers), checked here so a bad list stops the process.
  try {
    DenyList.parse(env.UP_UPSTREAM_DENY);
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
  return {
    databaseUrl: url(env, 'UP_DATABASE_URL', ['postgres:', 'postgresql:']),
    amqpUrl: url(env, 'UP_AMQP_URL', ['amqp:', 'amqps:']),
    amqpManagementUrl: url(env, 'UP_AMQP_MANAGEMENT_URL', ['http:', 'https:']),
    httpHost: host(env, 'UP_HTTP_HOST', '127.0.0.1'),
    httpPort: integer(env, 'UP_HTTP_PORT', 8470, 0, 65535),
    metrics: metricsPort === null ? null : { host: host(env, 'UP_METRICS_HOST', '127.0.0.1'), port: metricsPort },
    dataDir: dataDir(env),
    adminToken,
    logLevel,
    canaryIntervalMs: integer(env, 'UP_CANARY_INTERVAL_MS', 60_000, 100, 86_400_000),
    canaryTimeoutMs: integer(env, 'UP_CANARY_TIMEOUT_MS', 30_000, 100, 3_600_000),
    reconcileIntervalMs: integer(env, 'UP_RECONCILE_INTERVAL_MS', 5_000, 50, 3_600_000),
    healthIntervalMs: integer(env, 'UP_HEALTH_INTERVAL_MS', 300_000, 100, 86_400_000),
    alarmWebhookUrl: url(env, 'UP_ALARM_WEBHOOK_URL', ['http:', 'https:']),
    alarmMail: alarmMail(env),
    trustProxy: addressList(env, 'UP_TRUST_PROXY'),
    certRenewIntervalMs: integer(env, 'UP_CERT_RENEW_INTERVAL_MS', 43_200_000, 100, 604_800_000),
  };
}

export interface AlarmMailSettings {
  smtpUrl: string;
  from: string;
  to: string[];
}

const MAILBOX = /^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$/;

/** UP_ALARM_SMTP_URL with UP_ALARM_MAIL_TO (and UP_ALARM_MAIL_FROM); none of them: no mail. */
function alarmMail(env: Env): AlarmMailSettings | null {
  const smtpUrl = url(env, 'UP_ALARM_SMTP_URL', ['smtp:', 'smtps:']);
  const to = (env.UP_ALARM_MAIL_TO ?? '')
    .split(',')
    .map((a) => a.trim())
    .filter(Boolean);
  if (!smtpUrl) {
    if (to.length) throw new ConfigError('UP_ALARM_MAIL_TO is set but UP_ALARM_SMTP_URL is not');
    return null;
  }
  if (to.length === 0) throw new ConfigError('UP_ALARM_SMTP_URL is set but UP_ALARM_MAIL_TO (who gets alarm mail) is not');
  const bad = to.find((a) => !MAILBOX.test(a));
  if (bad !== undefined) throw new ConfigError(`UP_ALARM_MAIL_TO: "${bad}" is not an e-mail address`);
  const from = env.UP_ALARM_MAIL_FROM?.trim() || 'up-alarms@localhost.localdomain';
  if (!MAILBOX.test(from)) throw new ConfigError(`UP_ALARM_MAIL_FROM: "${from}" is not an e-mail address`);
  return { smtpUrl, from, to };
}

export interface AcmeSettings {
  /** The ACME directory URL certbot talks to. */
  directory: string;
  /** A PEM file on the handler's machine, copied to the host for certbot (REQUESTS_CA_BUNDLE): a private CA such as pebble's. */
  caBundleFile: string | null;
  email: string | null;
  /** How long certbot waits after the RFC 2136 update before asking the CA to check. */
  dnsPropagationSeconds: number;
}

export const LETS_ENCRYPT = 'https://acme-v02.api.letsencrypt.org/directory';

/** The certificate handlers' ACME settings (read when a handler runs; a wrong value names the variable). */
export function acmeSettings(env: Env = process.env): AcmeSettings {
  const caBundleFile = env.UP_ACME_CA_BUNDLE?.trim() || null;
  if (caBundleFile !== null && !caBundleFile.startsWith('/')) throw new ConfigError('UP_ACME_CA_BUNDLE must be an absolute path');
  const email = env.UP_ACME_EMAIL?.trim() || null;
  if (email !== null && !/^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$/.test(email))
    throw new ConfigError('UP_ACME_EMAIL is not an e-mail address');
  return {
    directory: url(env, 'UP_ACME_DIRECTORY', ['https:']) ?? LETS_ENCRYPT,
    caBundleFile,
    email,
    dnsPropagationSeconds: integer(env, 'UP_ACME_DNS_PROPAGATION_SECONDS', 30, 0, 3600),
  };
}

/** What the `up` client needs: where the gateway is and who we are. */
export function loadClientConfig(env: Env = process.env): ClientConfig {
  const url = env.UP_URL?.trim() || `http://127.0.0.1:${env.UP_HTTP_PORT?.trim() || 8470}`;
  try {
    new URL(url);
  } catch {
    throw new ConfigError('UP_URL is not a valid URL');
  }
  return { url: url.replace(/\/+$/, ''), token: env.UP_TOKEN?.trim() || null, dataDir: dataDir(env) };
}

/**
 * Where uploaded site archives live, named by their sha256. Gateway and handlers must see the
 * same directory: the same machine (embedded), or a shared volume when handlers run elsewhere.
 */
export function contentStoreDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.UP_CONTENT_DIR?.trim() || join(loadConfig(env).dataDir, 'content');
}
