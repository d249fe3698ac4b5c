import { stat } from 'node:fs/promises';
import { PermanentError } from '../../../lib/errors.ts';
import { databaseImport } from '../../../queues/databases/ops.ts';
import { importPath } from '../../../queues/databases/files.ts';
import { defineHandler } from '../../runtime/define.ts';
import { importDatabase } from '../transfer.ts';

/** The uploaded file, from the content store, fed to the database as a login limited to it. */
export default defineHandler({
  op: databaseImport,
  async run({ server, database, file }, ctx) {
    const path = importPath(file.sha256, file.gzip);
    const present = await stat(path).then(
      (s) => s.size === file.bytes,
      () => false,
    );
    if (!present)
      throw new PermanentError(`the upload ${file.sha256} is not in the content store (collected after 24 hours): send it again`);
    const exec = ctx.connect(server.host);
    const { bytes } = await importDatabase(exec, server, database.name, { path, gzip: file.gzip }, ctx.signal);
    ctx.log.info({ server: server.name, database: database.name, bytes }, 'database imported');
    return { database: database.name, bytes };
  },
});
