import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { ConfigError } from '../lib/config.ts';
import { CliError } from './client.ts';
import { alarms, health } from './commands/alarms.ts';
import { dlq } from './commands/dlq.ts';
import { dns } from './commands/dns.ts';
import { hosts } from './commands/hosts.ts';
import { jobs } from './commands/jobs.ts';
import { ping } from './commands/ping.ts';
import { queues } from './commands/queues.ts';
import { db, gateway, handler, recorder, scheduler, serve } from './commands/roles.ts';
import { audit } from './commands/audit.ts';
import { login } from './commands/login.ts';
import { tokens } from './commands/tokens.ts';
import { users } from './commands/users.ts';
import { proxies } from './commands/proxies.ts';
import { sites } from './commands/sites.ts';
import { certs } from './commands/certs.ts';

/** `up`: the launcher of every role and a queue-aware client of the gateway. */
await yargs(hideBin(process.argv))
  .scriptName('up')
  .usage('$0 <command>\n\nClient commands talk to UP_URL with UP_TOKEN; role commands read UP_DATABASE_URL and UP_AMQP_URL.')
  .option('json', { type: 'boolean', default: false, global: true, describe: 'machine-readable output' })
  .command([serve, gateway, handler, recorder, scheduler, db, ping, jobs, queues, dlq, hosts, alarms, health, login, tokens, users, audit, dns, proxies, sites, certs] as never)
  .demandCommand(1, 'choose a command (see --help)')
  .strict()
  .fail((message, error, y) => {
    if (error instanceof CliError || error instanceof ConfigError) {
      process.stderr.write(`up: ${error.message}\n`);
      process.exit(error instanceof CliError ? error.exitCode : 78);
    }
    if (error) throw error;
    process.stderr.write(`${y.help()}\n\nup: ${message}\n`);
    process.exit(64);
  })
  .help()
  .parseAsync();
