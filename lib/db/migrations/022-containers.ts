import type { Knex } from 'knex';

/**
 * Tenant containers: the desired spec (a generation each change), the host it is placed on,
 * what the host last reported, and the host ports `up` allocated for it (unique per host).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('containers', (t) => {
    t.uuid('id').primary();
    t.text('name').notNullable();
    t.uuid('owner_id').notNullable().references('users.id');
    t.text('host').notNullable();
    t.jsonb('spec').notNullable();
    t.integer('generation').notNullable().defaultTo(1);
    t.boolean('running').notNullable().defaultTo(true);
    /** What the host reported last: podman's state, the generation it converged to, or why not. */
    t.text('status');
    t.integer('applied_generation');
    t.text('last_error');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(['owner_id', 'name']);
    t.index(['host']);
  });
  await knex.schema.createTable('container_ports', (t) => {
    t.text('host').notNullable();
    t.integer('port').notNullable();
    t.uuid('container_id').notNullable().references('containers.id').onDelete('CASCADE');
    t.integer('container_port').notNullable();
    t.primary(['host', 'port']);
    t.unique(['container_id', 'container_port']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('container_ports');
  await knex.schema.dropTableIfExists('containers');
}
