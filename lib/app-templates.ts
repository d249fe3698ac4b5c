/**
 * Application templates are data: `templates/apps/<name>/` holds `template.json` (what it is,
 * what the user must give) and `app.json.mustache` (the container spec and the paths nginx
 * serves from the document root, rendered with the app's validated values). Adding a template
 * is adding a folder; every folder is loaded and checked the same way, here and in the tests.
 *
 * A folder may also hold `Containerfile.mustache`: an app of that template is built from its
 * uploaded source on deploy (renderContainerfile, FROM the app's `baseImage` or the template's),
 * and its spec runs the built image, passed to renderAppSpec as `image`. Before the first build
 * there is no image yet: the spec then names UNBUILT_IMAGE, so the app can be created first.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Type, type Static } from 'typebox';
import { Compile } from 'typebox/compile';
import { CONTAINER_NAME, ENV_KEY, Healthcheck, IMAGE_REF, MOUNT_TARGET } from './validate/containers.ts';
import { URL_PATH } from './validate/web.ts';
import { InputError } from './errors.ts';
import { renderText } from './render.ts';

const APPS_DIR = fileURLToPath(new URL('../templates/apps/', import.meta.url));
export const TEMPLATE_NAME = '^[a-z][a-z0-9-]{0,30}[a-z0-9]$';
/** The image a built template's spec names until its first build (never pulled: nothing runs before a deploy). */
export const UNBUILT_IMAGE = 'localhost/up-unbuilt:latest';
/** A directory inside the image: absolute, plain segments (no `.`/`..`, quotes or spaces), not /, /proc, /sys, /dev. */
export const STATIC_DIR = MOUNT_TARGET;

/** `template.json`: read as is. */
export const AppTemplateMeta = Type.Object(
  {
    description: Type.String({ minLength: 1, maxLength: 200 }),
    /** `image`: the user brings one (`container`); otherwise the template names its own. */
    needs: Type.Array(Type.Literal('image'), { maxItems: 1 }),
    /** The FROM of a built template (Containerfile.mustache) when the app gives no `baseImage`. */
    baseImage: Type.Optional(Type.String({ pattern: IMAGE_REF, maxLength: 255 })),
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
    /**
     * A directory inside the built image whose files nginx serves at the `static` paths (e.g.
     * Django's STATIC_ROOT after collectstatic); null: they come from the site's document root.
     */
    staticDir: Type.Union([Type.Null(), Type.String({ pattern: STATIC_DIR, maxLength: 255 })]),
    /**
     * What fills staticDir, run once in a container of the new image after the build (in the
     * tenant's id range, with no network), never as a RUN step of the build: a build runs as
     * root on the host, and collecting imports the tenant's code. Null: the image has them.
     */
    collect: Type.Optional(
      Type.Union([Type.Null(), Type.Array(Type.String({ maxLength: 4096, pattern: '^[^\\u0000]*$' }), { minItems: 1, maxItems: 64 })]),
    ),
  },
  { additionalProperties: false },
);
export type AppSpec = Static<typeof AppSpec>;

export interface AppTemplate {
  name: string;
  meta: Static<typeof AppTemplateMeta>;
  source: string;
  /** `Containerfile.mustache`: apps of this template are built from their uploaded source. */
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
  const template: AppTemplate = { name, meta, source };
  if (existsSync(`${dir}${name}/Containerfile.mustache`)) {
    const containerfile = readFileSync(`${dir}${name}/Containerfile.mustache`, 'utf8');
    if (/\{\{[{&]/.test(containerfile)) throw new Error(`templates/apps/${name}/Containerfile.mustache uses an unescaped tag`);
    // A build runs as root on the host: no step of it may run anything (app.json's collect runs code, in the tenant's id range).
    if (/^\s*(RUN|ONBUILD)\b/im.test(containerfile))
      throw new Error(`templates/apps/${name}/Containerfile.mustache runs a command at build time (RUN, ONBUILD): use app.json's collect`);
    template.containerfile = containerfile;
  } else if (meta.baseImage !== undefined)
    throw new Error(`templates/apps/${name}/template.json has a baseImage but no Containerfile.mustache`);
  return template;
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
  checkName(values.name);
  if (values.image !== undefined && !isImageRef(values.image)) throw new InputError('body/image', 'is not an image reference');
  if (template.meta.needs.includes('image') && values.image === undefined)
    throw new InputError('body/image', `is required by the ${template.name} template`, 422);
  // A built template runs its build: the image given, or the placeholder until the first deploy.
  const image = values.image ?? (template.containerfile !== undefined ? UNBUILT_IMAGE : '');
  const rendered = renderText('config', template.source, { name: values.name, image });
  let spec: unknown;
  try {
    spec = JSON.parse(rendered);
  } catch (error) {
    throw new Error(`templates/apps/${template.name}/app.json.mustache does not render to JSON: ${(error as Error).message}`);
  }
  if (!specCheck.Check(spec)) throw new Error(`templates/apps/${template.name}/app.json.mustache ${firstError(specCheck.Errors(spec))}`);
  if (spec.collect && spec.staticDir === null)
    throw new Error(`templates/apps/${template.name}/app.json.mustache collects static files into no staticDir`);
  if (spec.staticDir !== null && (spec.container === null || template.containerfile === undefined))
    throw new Error(`templates/apps/${template.name}/app.json.mustache has a staticDir but nothing builds its image`);
  return spec;
}

/** An image reference as the specs accept it (pattern and length), so a bad one is the caller's 400, never a broken spec. */
function isImageRef(value: unknown): boolean {
  return typeof value === 'string' && value.length <= 255 && new RegExp(IMAGE_REF).test(value);
}

function checkName(name: string): void {
  if (typeof name !== 'string' || !new RegExp(CONTAINER_NAME).test(name)) throw new InputError('body/name', 'is not a valid app name');
}

/**
 * The Containerfile that builds an app of this template from its uploaded source (the build
 * context), or null when the template is not built. FROM is `baseImage` (checked as an image
 * reference), else the template's default; values are placed by the config escape.
 */
export function renderContainerfile(template: AppTemplate, values: { name: string; baseImage?: string }): string | null {
  checkName(values.name);
  if (values.baseImage !== undefined && !isImageRef(values.baseImage)) throw new InputError('body/baseImage', 'is not an image reference');
  if (template.containerfile === undefined) return null;
  const baseImage = values.baseImage ?? template.meta.baseImage;
  if (baseImage === undefined) throw new InputError('body/baseImage', `is required by the ${template.name} template`, 422);
  return renderText('config', template.containerfile, { name: values.name, baseImage });
}
