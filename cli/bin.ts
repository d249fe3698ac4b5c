import { reportFailure } from './errors.ts';
import { main } from './main.ts';

// Last resort: whatever escapes the command (a stream error, a rejection nobody awaited) is
// still one `up:` line and exit 1, never a Node stack trace.
const fatal = (error: unknown) => {
  process.exitCode = reportFailure(error);
  process.exit();
};
process.on('uncaughtException', fatal);
process.on('unhandledRejection', fatal);

const code = await main();
if (code !== null) process.exitCode = code;
