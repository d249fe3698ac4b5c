/**
 * Mustache rendering with an escape per template family. Config files must never be
 * HTML-escaped (`&amp;` in an nginx file is a bug), and they must never be escaped *into*
 * validity either: the config escape passes a value through unchanged when it holds nothing
 * the target's syntax could act on, and throws otherwise. Views hold values that already
 * passed a strict pattern, so a throw here is a missing check upstream, not user error.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Mustache from 'mustache';

/** `config`: any other config file whose values are plain words and numbers (same strict check as nginx). */
export type TemplateFamily = 'nginx' | 'config' | 'html';

/** Characters that are syntax in nginx (and shells, and comments) — never inside a value. */
const NGINX_UNSAFE = /[\0-\x1f\x7f"'`\\$;{}#]/;

export class RenderError extends Error {
  override readonly name = 'RenderError';
}

function plainValue(value: unknown): string {
  if (typeof value !== 'string' && typeof value !== 'number') throw new RenderError(`cannot place a ${typeof value} in a config file`);
  const text = String(value);
  if (NGINX_UNSAFE.test(text)) throw new RenderError(`refusing to render ${JSON.stringify(text)} into a config file`);
  return text;
}

const escapes: Record<TemplateFamily, (value: unknown) => string> = {
  nginx: plainValue,
  config: plainValue,
  html: (value) => Mustache.escape(String(value)),
};

const TEMPLATES_DIR = fileURLToPath(new URL('../templates/', import.meta.url));
const cache = new Map<string, string>();

export function loadTemplate(name: string): string {
  let text = cache.get(name);
  if (text === undefined) {
    if (!/^[a-z0-9-]+\/[a-z0-9.-]+\.mustache$/.test(name)) throw new RenderError(`invalid template name ${name}`);
    text = readFileSync(`${TEMPLATES_DIR}${name}`, 'utf8');
    if (/\{\{[{&]/.test(text)) throw new RenderError(`${name} uses an unescaped tag; every value goes through the family escape`);
    cache.set(name, text);
  }
  return text;
}

/** Renders `templates/<name>` (e.g. `nginx/vhost.conf.mustache`) with the family's escape. */
export function render(family: TemplateFamily, name: string, view: object): string {
  return renderText(family, loadTemplate(name), view);
}

export function renderText(family: TemplateFamily, template: string, view: object): string {
  return Mustache.render(template, view, undefined, { escape: escapes[family] });
}
