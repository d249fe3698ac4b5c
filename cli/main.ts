import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { ConfigError } from '../lib/config.ts';
import { CliError } from './client.ts';
import { dlq } from './commands/dlq.ts';
import { jobs } from './commands/jobs.ts';
import { ping } from './commands/ping.ts';
import { queues } from './commands/queues.ts';
import { db, gateway, handler, recorder, scheduler, serve } from './commands/roles.ts';

/** `up`: the launcher of every role and a queue-aware client of the gateway. */
await yargs(hideBin(process.argv))
  .scriptName('up')
  .usage('$0 <command>\n\nClient commands talk to UP_URL with UP_TOKEN; role commands read UP_DATABASE_URL and UP_AMQP_URL.')
  .option('json', { type: 'boolean', default: false, global: true, describe: 'machine-readable output' })
  .command([serve, gateway, handler, recorder, scheduler, db, ping, jobs, queues, dlq] as never)
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
