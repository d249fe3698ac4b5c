/** Where an app's builds happen on its host: one directory per app, root's only. */
export const APPS_DIR = '/var/lib/up/apps';
export const buildDir = (appKey: string) => `${APPS_DIR}/${appKey}`;
