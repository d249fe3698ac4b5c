// A second test reporter beside TAP: it stays silent until the run ends, then repeats every
// failure — its file, its name and the error — so that the last lines of a long CI log say what
// failed without anyone scrolling back through hundreds of passing tests.
import { inspect } from 'node:util';

export default async function* failures(source) {
  const failed = [];
  for await (const event of source) {
    if (event.type !== 'test:fail') continue;
    const { name, file, details } = event.data;
    // A suite fails when a test inside it does; the test itself is the one worth reading.
    if (details?.error?.failureType === 'subtestsFailed') continue;
    failed.push({ name, file, error: details?.error });
  }
  if (failed.length === 0) return;
  yield `\n== ${failed.length} failed test${failed.length === 1 ? '' : 's'}\n`;
  for (const { name, file, error } of failed) {
    const cause = error?.cause ?? error;
    yield `\n-- ${file ?? '?'}\n   ${name}\n${indent(inspect(cause, { depth: 4 }))}\n`;
  }
}

function indent(text) {
  return text
    .split('\n')
    .slice(0, 60)
    .map((line) => `   ${line}`)
    .join('\n');
}
