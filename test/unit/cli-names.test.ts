/**
 * One name per domain in the CLI: each domain's command is its name (the gateway folder, the
 * API path, the OpenAPI tag), in cli/commands/<name>.ts; the shorter words users type
 * (`sites`, `certs`) are aliases, and suggestions name the main noun.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { domains } from '../../gateway/domains.ts';
import { aliasesOf, commandName, suggestions } from '../../cli/command.ts';
import { COMMANDS } from '../../cli/commands/index.ts';
import { commandWord } from '../../cli/main.ts';

test("every domain is a top-level command of its own name, in a file of that name; the domain's CLI names are its aliases", async () => {
  for (const domain of domains) {
    const entry = COMMANDS.find((c) => commandName(c.command) === domain.name);
    assert.ok(entry, `up ${domain.name}`);
    assert.ok(existsSync(new URL(`../../cli/commands/${domain.name}.ts`, import.meta.url)), `cli/commands/${domain.name}.ts`);
    assert.deepEqual([...(entry.aliases ?? [])].sort(), [...(domain.names?.cli ?? [])].sort(), `aliases of up ${domain.name}`);
    const body = await entry.load();
    assert.ok(body.subcommands?.length, `up ${domain.name} holds commands`);
  }
});

test('no alias is also a command or another alias', () => {
  const words = COMMANDS.flatMap((c) => [commandName(c.command), ...(c.aliases ?? [])]);
  assert.equal(new Set(words).size, words.length, words.join(' '));
});

test('aliases stand for their main noun', () => {
  assert.deepEqual(aliasesOf(COMMANDS), { sites: 'websites', certs: 'certificates' });
});

test('suggestions: a word close to an alias suggests the main noun, once', () => {
  const names = COMMANDS.map((c) => commandName(c.command));
  const aliases = aliasesOf(COMMANDS);
  assert.deepEqual(suggestions('site', names, aliases), ['websites']);
  assert.deepEqual(suggestions('cert', names, aliases), ['certificates']);
  assert.deepEqual(suggestions('webites', names, aliases), ['websites']);
  assert.deepEqual(suggestions('sites', ['websites'], { sites: 'websites' }), ['websites']);
});

test('the command word is found the same way behind an alias', () => {
  assert.equal(commandWord(['--as', 'sites', 'sites', 'list']), 'sites');
});
