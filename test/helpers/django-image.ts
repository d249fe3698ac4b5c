/**
 * The django template's default base image, `localhost/up-django-base:latest`, made on a lab host
 * with no registry and no network: a root filesystem of this machine's own python3 (Debian's
 * python3.11), its standard library, django and gunicorn (python3-django, gunicorn packages),
 * the time zones pytz reads, the shared libraries they load (ldd), and busybox-static for /bin/sh (the Containerfile's RUN
 * and CMD), imported with `podman import` as podman-lab.ts does for busybox. This is also how an
 * operator can make the image on a host with no registry; anyone else passes their own baseImage.
 */
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { LabHost } from './lab-hosts.ts';
import { onHost } from './podman-lab.ts';

const run = promisify(execFile);

export const DJANGO_BASE_IMAGE = 'localhost/up-django-base:latest';

const PYTHON = '/usr/bin/python3.11';
const STDLIB = 'usr/lib/python3.11';
const DIST = 'usr/lib/python3/dist-packages';
/** What django and gunicorn import (Django 3.2: asgiref, sqlparse, pytz; gunicorn 20.1: pkg_resources). */
/** Debian's pytz reads the system's time zones (tzdata). */
const ZONEINFO = 'usr/share/zoneinfo';
const PACKAGES = ['django', 'asgiref', 'sqlparse', 'pytz', 'gunicorn', 'pkg_resources'];
/**
 * Left out, all unused at run time: bytecode (python compiles what it imports), the test suites,
 * GUI and teaching modules, the static libpython (25 MB), translations (English is the fallback),
 * GeoDjango (needs GDAL, absent anyway), and Debian's sitecustomize link into /etc.
 */
const EXCLUDES = [
  '__pycache__',
  '*.pyc',
  `${STDLIB}/test`,
  `${STDLIB}/idlelib`,
  `${STDLIB}/tkinter`,
  `${STDLIB}/turtledemo`,
  `${STDLIB}/ensurepip`,
  `${STDLIB}/lib2to3`,
  `${STDLIB}/pydoc_data`,
  `${STDLIB}/config-3.11-x86_64-linux-gnu`,
  `${STDLIB}/sitecustomize.py`,
  `${STDLIB}/lib-dynload/_tkinter*`,
  `${DIST}/django/contrib/gis`,
  '*.mo',
  '*.po',
];

/** The shared libraries these ELF files load, by the path ldd resolved (e.g. /lib/x86_64-linux-gnu/libc.so.6). */
async function sharedLibraries(files: string[]): Promise<Set<string>> {
  const libraries = new Set<string>();
  for (const file of files) {
    const { stdout } = await run('ldd', [file]).catch(() => ({ stdout: '' }));
    for (const line of stdout.split('\n')) {
      const path = /=>\s+(\/\S+)/.exec(line)?.[1] ?? /^\s*(\/\S+)\s+\(/.exec(line)?.[1];
      if (path) libraries.add(path);
    }
  }
  return libraries;
}

/** Stages the files that are not copied from / as they are; returns the staging root. */
async function stage(root: string): Promise<void> {
  for (const d of ['usr/bin', 'usr/lib/x86_64-linux-gnu', 'usr/lib64', 'etc', 'proc', 'sys', 'dev', 'root', 'tmp', 'app'])
    mkdirSync(join(root, d), { recursive: true });
  chmodSync(join(root, 'tmp'), 0o1777);
  // Merged /usr, as on Debian: the paths ldd prints (/lib/..., /lib64/...) resolve inside the image.
  for (const [link, target] of [
    ['bin', 'usr/bin'],
    ['sbin', 'usr/bin'],
    ['lib', 'usr/lib'],
    ['lib64', 'usr/lib64'],
  ])
    symlinkSync(target, join(root, link));

  if (!existsSync('/bin/busybox')) throw new Error('busybox-static is not installed (apt-get install busybox-static)');
  await run('cp', ['/bin/busybox', join(root, 'usr/bin/busybox')]);
  const { stdout: applets } = await run('/bin/busybox', ['--list']);
  for (const applet of applets.split('\n').filter(Boolean))
    if (!existsSync(join(root, 'usr/bin', applet))) symlinkSync('busybox', join(root, 'usr/bin', applet));

  if (!existsSync(PYTHON) || !existsSync(`/${DIST}/django`) || !existsSync(`/${DIST}/gunicorn`))
    throw new Error('python3-django and gunicorn are not installed (apt-get install python3-django gunicorn)');
  await run('cp', [PYTHON, join(root, 'usr/bin/python3.11')]);
  symlinkSync('python3.11', join(root, 'usr/bin/python3'));
  // Debian's /usr/bin/gunicorn finds its entry point through the package metadata; this needs none.
  writeFileSync(join(root, 'usr/bin/gunicorn'), '#!/usr/bin/python3\nimport sys\nfrom gunicorn.app.wsgiapp import run\nsys.exit(run())\n', {
    mode: 0o755,
  });

  const dynload = `/${STDLIB}/lib-dynload`;
  const modules = readdirSync(dynload)
    .filter((f) => f.endsWith('.so') && !f.startsWith('_tkinter'))
    .map((f) => join(dynload, f));
  for (const library of await sharedLibraries([PYTHON, ...modules])) {
    const inImage = library.replace(/^\/lib(64)?\//, '/usr/lib$1/');
    mkdirSync(join(root, inImage, '..'), { recursive: true });
    await run('cp', ['-L', library, join(root, inImage)]);
  }

  writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n');
  writeFileSync(join(root, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
}

/** Builds the root filesystem tar in `dir`; returns its path and size in bytes. */
export async function djangoBaseTar(dir: string): Promise<{ tar: string; bytes: number }> {
  const root = mkdtempSync(join(tmpdir(), 'up-django-base-'));
  try {
    await stage(root);
    const tar = join(dir, 'up-django-base.tar');
    await run(
      'tar',
      [
        '-cf',
        tar,
        ...EXCLUDES.map((e) => `--exclude=${e}`),
        '-C',
        root,
        '.',
        '-C',
        '/',
        STDLIB,
        ZONEINFO,
        ...PACKAGES.map((p) => `${DIST}/${p}`),
      ],
      { maxBuffer: 1 << 20 },
    );
    return { tar, bytes: statSync(tar).size };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** Makes `localhost/up-django-base:latest` on the host (podman import of djangoBaseTar); returns the image name. */
export async function buildDjangoBaseImage(host: LabHost): Promise<string> {
  const { tar } = await djangoBaseTar(host.dir);
  try {
    await onHost(
      host,
      `podman import --change 'CMD ["python3"]' --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' ${tar} ${DJANGO_BASE_IMAGE} >/dev/null`,
      180_000,
    );
  } finally {
    rmSync(tar, { force: true });
  }
  return DJANGO_BASE_IMAGE;
}
