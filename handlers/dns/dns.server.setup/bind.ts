/**
 * BIND for dynamic zones on a `dns` host: up owns named.conf in the config directory (the TSIG key
 * and rndc key included, `allow-new-zones yes` so dns.zone.create can `rndc addzone`), the zone
 * directory is named's own, and named runs. Every step checks first, so a second run changes nothing.
 */
import { CommandError, sh, type Executor } from '../../../lib/exec/index.ts';
import type { TsigKey } from '../../../lib/dns/tsig.ts';
import { PermanentError } from '../../../lib/errors.ts';
import type { BindSetup } from '../../../queues/dns/ops.ts';
import { BIND_LOCK } from '../dns.zone.create/rndc.ts';

const DEBIAN_CONFIG_DIR = '/etc/bind';
const RNDC_PORT = 953;
const BIND_USER = 'bind';

export const namedConfPath = (setup: BindSetup) => `${setup.configDir}/named.conf`;
export const tsigKeyPath = (setup: BindSetup) => `${setup.configDir}/up-tsig-${setup.keyName}.key`;
const rndcKeyPath = (setup: BindSetup) => `${setup.configDir}/rndc.key`;

/**
 * Debian's unit runs named on /etc/bind/named.conf with its own pid file; any other config
 * directory is an instance up starts itself (`named -c`), keeping its pid file with its zones.
 */
const pidFile = (setup: BindSetup) => (setup.configDir === DEBIAN_CONFIG_DIR ? '/run/named/named.pid' : `${setup.zoneDir}/named.pid`);

/** Every value placed in these files passed the payload's strict patterns (paths, key name, addresses). */
export function namedConf(setup: BindSetup): string {
  const notify = setup.secondaries.length
    ? [`  notify explicit;`, `  also-notify { ${setup.secondaries.map((a) => `${a};`).join(' ')} };`]
    : ['  notify no;'];
  return [
    '// Written by up (host.prepare, dns role): changes here are overwritten.',
    `include "${rndcKeyPath(setup)}";`,
    `include "${tsigKeyPath(setup)}";`,
    `controls { inet 127.0.0.1 port ${RNDC_PORT} allow { 127.0.0.1; } keys { "rndc-key"; }; };`,
    'options {',
    `  directory "${setup.zoneDir}";`,
    `  pid-file "${pidFile(setup)}";`,
    `  session-keyfile "${setup.zoneDir}/session.key";`,
    `  managed-keys-directory "${setup.zoneDir}";`,
    `  listen-on port ${setup.port} { any; };`,
    `  listen-on-v6 port ${setup.port} { any; };`,
    '  recursion no;',
    '  allow-query { any; };',
    '  dnssec-validation no;',
    ...notify,
    `  allow-transfer { key "${setup.keyName}"; };`,
    '  allow-new-zones yes;',
    '};',
    '',
  ].join('\n');
}

export function rndcConf(setup: BindSetup): string {
  return `include "${rndcKeyPath(setup)}";\noptions { default-key "rndc-key"; default-server 127.0.0.1; default-port ${RNDC_PORT}; };\n`;
}

export function tsigKeyFile(key: TsigKey): string {
  return `key "${key.name}" { algorithm ${key.algorithm}; secret "${key.secret.toString('base64')}"; };\n`;
}

/** Converges BIND on the host; returns what it changed (paths, and `named started`/`named reconfigured`). */
export async function prepareBind(host: Executor, setup: BindSetup, key: TsigKey, signal: AbortSignal): Promise<string[]> {
  return host.withLock(BIND_LOCK, async () => {
    const changed: string[] = [];
    const dirs = await host.runScript(
      [
        sh`[ -d ${setup.configDir} ] || { install -d -o root -g ${BIND_USER} -m 2755 ${setup.configDir} && echo ${setup.configDir}; }`,
        sh`[ "$(stat -c '%U:%G:%a' ${setup.zoneDir} 2>/dev/null)" = ${`${BIND_USER}:${BIND_USER}:770`} ] || { mkdir -p ${setup.zoneDir} && chown ${BIND_USER}:${BIND_USER} ${setup.zoneDir} && chmod 0770 ${setup.zoneDir} && echo ${setup.zoneDir}; }`,
        sh`[ -f ${rndcKeyPath(setup)} ] || { rndc-confgen -a -k rndc-key -c ${rndcKeyPath(setup)} >/dev/null 2>&1 && chown root:${BIND_USER} ${rndcKeyPath(setup)} && chmod 0640 ${rndcKeyPath(setup)} && echo ${rndcKeyPath(setup)}; }`,
      ],
      { signal },
    );
    changed.push(...dirs.stdout.split('\n').filter(Boolean));

    const owned = { mode: 0o640, owner: 'root', group: BIND_USER };
    if ((await host.putFile(tsigKeyPath(setup), tsigKeyFile(key), owned)).changed) changed.push(tsigKeyPath(setup));
    if ((await host.putFile(setup.rndcConf, rndcConf(setup), owned)).changed) changed.push(setup.rndcConf);
    const previous = await host.readFile(namedConfPath(setup));
    if ((await host.putFile(namedConfPath(setup), namedConf(setup), { mode: 0o644, owner: 'root', group: BIND_USER })).changed) {
      changed.push(namedConfPath(setup));
      const check = await host.run(sh`named-checkconf ${namedConfPath(setup)}`, { signal, okExitCodes: [0, 1] });
      if (check.exitCode !== 0) {
        if (previous) await host.putFile(namedConfPath(setup), previous);
        throw new PermanentError(
          `${host.host}: named-checkconf refused up's named.conf (the previous one is back): ${(check.stdout + check.stderr).trim()}`,
        );
      }
    }

    if (await namedAnswers(host, setup, signal)) {
      if (changed.length) {
        await host.run(sh`rndc -c ${setup.rndcConf} reconfig`, { signal });
        changed.push('named reconfigured');
      }
    } else {
      await startNamed(host, setup, signal);
      changed.push('named started');
    }
    return changed;
  });
}

async function namedAnswers(host: Executor, setup: BindSetup, signal: AbortSignal): Promise<boolean> {
  return (await host.run(sh`rndc -c ${setup.rndcConf} status`, { signal, okExitCodes: [0, 1] })).exitCode === 0;
}

async function startNamed(host: Executor, setup: BindSetup, signal: AbortSignal): Promise<void> {
  if (setup.configDir === DEBIAN_CONFIG_DIR) {
    await host.run(
      sh`if [ -d /run/systemd/system ]; then systemctl enable named && systemctl restart named; else named -u ${BIND_USER} </dev/null >/dev/null 2>&1; fi`,
      { signal },
    );
  } else {
    await host.run(sh`named -u ${BIND_USER} -c ${namedConfPath(setup)} </dev/null >/dev/null 2>&1`, { signal });
  }
  for (let i = 0; i < 100; i++) {
    if (await namedAnswers(host, setup, signal)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const status = await host.run(sh`rndc -c ${setup.rndcConf} status`, { signal, okExitCodes: [0, 1] });
  throw new CommandError(
    { host: host.host, exitCode: status.exitCode, signal: null, stdout: status.stdout, stderr: status.stderr },
    'named did not answer rndc within 10 s',
  );
}
