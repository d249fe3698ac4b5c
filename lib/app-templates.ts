/**
 * Application templates are data: `templates/apps/<name>/` holds `template.json` (what it is,
 * what the user must give) and `app.json.mustache` (the container spec and the paths nginx
 * serves from the document root, rendered with the app's validated values). Adding a template
 * is adding a folder; every folder is loaded and checked the same way, here and in the tests.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Type, type Static } from 'typebox';
import { Compile } from 'typebox/compile';
import { CONTAINER_NAME, ENV_KEY, Healthcheck, IMAGE_REF } from './validate/containers.ts';
import { URL_PATH } from './validate/web.ts';
import { InputError } from './errors.ts';
import { renderText } from './render.ts';

const APPS_DIR = fileURLToPath(new URL('../templates/apps/', import.meta.url));
export const TEMPLATE_NAME = '^[a-z][a-z0-9-]{0,30}[a-z0-9]$';

/** `template.json`: read as is. */
export const AppTemplateMeta = Type.Object(
  {
    description: Type.String({ minLength: 1, maxLength: 200 }),
    /** `image`: the user brings one (`container`); otherwise the template names its own. */
    needs: Type.Array(Type.Literal('image'), { maxItems: 1 }),
  },
  { additionalProperties: false },
);

/** `app.json.mustache` once rendered: what an app of this template runs and serves. */
export const AppSpec = Type.Object(
  {
    container: Type.Union([
      Type.Null(),
      Type.Object(
        {
          image: Type.String({ pattern: IMAGE_REF, maxLength: 255 }),
          command: Type.Array(Type.String({ maxLength: 4096, pattern: '^[^\\u0000]*$' }), { maxItems: 64 }),
          port: Type.Integer({ minimum: 1, maximum: 65535 }),
          env: Type.Record(Type.String({ pattern: ENV_KEY }), Type.String({ maxLength: 4096, pattern: '^[^\\u0000]*$' })),
          healthcheck: Type.Union([Healthcheck, Type.Null()]),
        },
        { additionalProperties: false },
      ),
    ]),
    /** URL paths nginx serves from the document root; everything else goes to the container (none: the site is static). */
    static: Type.Array(Type.String({ pattern: URL_PATH, maxLength: 256 }), { maxItems: 20 }),
    staticDir: Type.Union([Type.String({ pattern: '^(/(?!\\.{1,2}(/|$))[A-Za-z0-9._-]+)+/?$', maxLength: 1024 }), Type.Null()]),
  },
  { additionalProperties: false },
);
export type AppSpec = Static<typeof AppSpec>;

export interface AppTemplate {
  name: string;
  meta: Static<typeof AppTemplateMeta>;
  source: string;
  containerfile?: string;
}

const metaCheck = Compile(AppTemplateMeta);
const specCheck = Compile(AppSpec);
const firstError = (errors: Iterable<{ instancePath: string; message: string }>) => {
  for (const e of errors) return `${e.instancePath || '/'} ${e.message}`;
  return 'is invalid';
};

/** One template folder, checked; a broken template is the platform's bug (Error), not the user's. */
export function loadAppTemplate(name: string, dir = APPS_DIR): AppTemplate {
  if (!new RegExp(TEMPLATE_NAME).test(name)) throw new Error(`invalid app template name ${name}`);
  const meta: unknown = JSON.parse(readFileSync(`${dir}${name}/template.json`, 'utf8'));
  if (!metaCheck.Check(meta)) throw new Error(`templates/apps/${name}/template.json ${firstError(metaCheck.Errors(meta))}`);
  const source = readFileSync(`${dir}${name}/app.json.mustache`, 'utf8');
  if (/\{\{[{&]/.test(source)) throw new Error(`templates/apps/${name}/app.json.mustache uses an unescaped tag`);
  const containerfile = existsSync(`${dir}${name}/Containerfile.mustache`)
    ? readFileSync(`${dir}${name}/Containerfile.mustache`, 'utf8')
    : undefined;
  return { name, meta, source, ...(containerfile !== undefined ? { containerfile } : {}) };
}

/** Every template folder, by name. */
export function appTemplates(dir = APPS_DIR): AppTemplate[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => loadAppTemplate(e.name, dir))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * An app's spec from its template: the values are checked first (a name, an image reference:
 * nothing that could close a JSON string), placed by the config escape (which refuses quotes
 * and backslashes anyway), and the result checked against AppSpec. Bad user input names its field.
 */
export function renderAppSpec(template: AppTemplate, values: { name: string; image?: string }): AppSpec {
  if (!new RegExp(CONTAINER_NAME).test(values.name)) throw new InputError('body/name', 'is not a valid app name');
  if (values.image !== undefined && !new RegExp(IMAGE_REF).test(values.image))
    throw new InputError('body/image', 'is not an image reference');
  if (template.meta.needs.includes('image') && values.image === undefined)
    throw new InputError('body/image', `is required by the ${template.name} template`, 422);
  const rendered = renderText('config', template.source, { name: values.name, image: values.image ?? '' });
  let spec: unknown;
  try {
    spec = JSON.parse(rendered);
  } catch (error) {
    throw new Error(`templates/apps/${template.name}/app.json.mustache does not render to JSON: ${(error as Error).message}`);
  }
  if (!specCheck.Check(spec)) throw new Error(`templates/apps/${template.name}/app.json.mustache ${firstError(specCheck.Errors(spec))}`);
  return spec;
}

export function renderContainerfile(template: AppTemplate, values: { name: string; baseImage?: string }): string | null {
  if (template.containerfile === undefined) return null;
  return renderText('config', template.containerfile, values);
}
