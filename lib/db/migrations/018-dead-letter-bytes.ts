import type { Knex } from 'knex';

/**
 * A dead letter is kept as the bytes the broker delivered: a poison message need not be
 * UTF-8, and `text` refused one holding a NUL byte (22021), which was then retried forever.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE dead_letters ALTER COLUMN content TYPE bytea USING convert_to(content, 'UTF8')`);
}

/** Back to text, which cannot hold every message: NUL and bytes above 0x7f come back as octal escapes (`\\000`). */
export async function down(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE dead_letters ALTER COLUMN content TYPE text USING encode(content, 'escape')`);
}
