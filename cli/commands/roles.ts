import type { CommandBody } from '../command.ts';
import { loadServer } from '../load-server.ts';

// Only the arguments live here: the server code loads when a role starts (cli/server.ts).

const concurrency = { type: 'number', describe: "messages in flight per operation (default: each operation's own)" } as const;

export const serve: CommandBody<{ concurrency?: number }> = {
  builder: (y) => y.option('concurrency', concurrency),
  handler: async (argv) =>
    (await loadServer()).runRoles(['gateway', 'handlers', 'recorder', 'scheduler'], { concurrency: argv.concurrency }),
};

const single = (role: 'gateway' | 'recorder' | 'scheduler'): CommandBody => ({
  handler: async () => (await loadServer()).runRoles([role]),
});
export const gateway = single('gateway');
export const recorder = single('recorder');
export const scheduler = single('scheduler');

export const handler: CommandBody<{ ops: string[]; concurrency?: number }> = {
  builder: (y) =>
    y
      .positional('ops', { type: 'string', array: true, describe: "operation names or globs such as 'system.*'" })
      .option('concurrency', concurrency),
  handler: async (argv) => (await loadServer()).runRoles(['handlers'], { ops: argv.ops.map(String), concurrency: argv.concurrency }),
};

export const db: CommandBody = {
  builder: (y) => y.positional('action', { choices: ['migrate'] as const, describe: 'migrate: bring the schema up to date' }),
  handler: async () => {
    const applied = await (await loadServer()).migrate();
    process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'already up to date\n');
  },
};
