import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

/** promtool from Debian's prometheus package (`.ci/run` extracts it): PROMTOOL, else the PATH. */
const PROMTOOL = process.env.PROMTOOL || 'promtool';
export const promtoolAvailable = spawnSync(PROMTOOL, ['--version'], { stdio: 'ignore' }).status === 0;

/** prom-client's default Node.js gauges carry a `_total` suffix; promtool's lint names them, nothing else may be named. */
const KNOWN_LINT = /^nodejs_active_(handles|requests|resources)_total non-counter metrics should not have "_total" suffix$/;

/** promtool parses the exposition and lints it: a parse error, or a lint problem in our own metrics, fails. */
export function assertValidExposition(text: string, where: string): void {
  const run = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8' });
  const problems = `${run.stdout}${run.stderr}`.split('\n').filter((line) => line.trim() && !KNOWN_LINT.test(line.trim()));
  // 0: clean; 3: lint problems only (parse errors exit 1).
  assert.ok(run.status === 0 || run.status === 3, `promtool check metrics on ${where} exited ${run.status}: ${run.stdout}${run.stderr}`);
  assert.deepEqual(problems, [], `promtool on ${where}`);
}

/** The value of one series, found by its name and exact labels (order as written by prom-client). */
export function sample(text: string, series: string): number | null {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return null;
}

/** Every series of a metric: its label text and value. */
export function samples(text: string, name: string): { labels: string; value: number }[] {
  const found: { labels: string; value: number }[] = [];
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$/.exec(line);
    if (match && match[1] === name) found.push({ labels: match[2] ?? '', value: Number(match[3]) });
  }
  return found;
}
