import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { databaseDump } from '../../../queues/databases/ops.ts';
import { databaseFilesDir, dumpPath, tempFilePath } from '../../../queues/databases/files.ts';
import { defineHandler } from '../../runtime/define.ts';
import { dumpDatabase } from '../transfer.ts';

/** The dump streams into a temp file of the content store, hashed as it comes, then takes its checksum name. */
export default defineHandler({
  op: databaseDump,
  async run({ server, database }, ctx) {
    const exec = ctx.connect(server.host);
    await mkdir(databaseFilesDir(), { recursive: true, mode: 0o700 });
    const temp = tempFilePath('dump');
    const hash = createHash('sha256');
    let bytes = 0;
    const file = createWriteStream(temp, { flags: 'wx', mode: 0o600 });
    const counted = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        hash.update(chunk);
        bytes += chunk.length;
        done(null, chunk);
      },
    });
    counted.pipe(file);
    const written = new Promise<void>((resolve, reject) => file.once('close', resolve).once('error', reject));
    try {
      await dumpDatabase(exec, server, database.name, counted, ctx.signal);
      await written;
      const sha256 = hash.digest('hex');
      const final = dumpPath(sha256);
      // The same bytes under the same name (an unchanged database): replaced, so its day starts again.
      await rename(temp, final);
      ctx.log.info({ server: server.name, database: database.name, bytes }, 'database dumped');
      return { database: database.name, sha256, bytes };
    } finally {
      file.destroy();
      await rm(temp, { force: true });
    }
  },
});
