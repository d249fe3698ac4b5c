export type OutputFormat = 'table' | 'json' | 'yaml';
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['table', 'json', 'yaml'];

/** How this run prints: set once from the global options (`--output`, `--json`, `--no-headers`). */
const settings = { format: 'table' as OutputFormat, headers: true };
/** The YAML writer, loaded only for `--output yaml` (it is most of the client's code). */
let toYaml: ((data: unknown) => string) | null = null;

export async function useOutput(options: { format: OutputFormat; headers: boolean }): Promise<void> {
  Object.assign(settings, options);
  if (options.format === 'yaml' && !toYaml) {
    // A CommonJS package: its exports are the default export once bundled.
    const yaml = (await import('yaml')) as typeof import('yaml') & { default?: typeof import('yaml') };
    toYaml = (yaml.default ?? yaml).stringify;
  }
}

/** JSON or YAML on stdout: progress and chatter stay off it, and off stderr too. */
export const machineReadable = () => settings.format !== 'table';

/** Prints the data for scripts (`--output json|yaml`) or text for people. */
export function emit(data: unknown, human: () => string): void {
  const text = settings.format === 'json' ? JSON.stringify(data, null, 2) : settings.format === 'yaml' ? toYaml!(data).trimEnd() : human();
  process.stdout.write(`${text}\n`);
}

/** Longest cell before it is cut; the whole value is in `show` and in `--output json`. */
const CELL_MAX = 120;

/** One line of a table cell: a multi-line value (nginx's errors) shows its first line, cut. */
function cell(value: unknown): string {
  if (value === null || value === undefined || value === '') return '-';
  const text = String(value);
  const first = text.split(/\r?\n/, 1)[0]!.trimEnd();
  return first.length > CELL_MAX || first.length < text.trimEnd().length ? `${first.slice(0, CELL_MAX - 1)}…` : first;
}

/** A plain aligned table, one line per row; empty cells show as "-". `--no-headers`: rows only. */
export function table(rows: Record<string, unknown>[], columns: string[]): string {
  if (rows.length === 0) return settings.headers ? '(none)' : '';
  const cells = rows.map((row) => columns.map((c) => cell(row[c])));
  const head = settings.headers ? [columns.map((c) => c.toUpperCase())] : [];
  const widths = columns.map((_c, i) => Math.max(...[...head, ...cells].map((r) => r[i]!.length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => v.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [...head, ...cells].map(line).join('\n');
}

/** Short absolute time for tables. */
export const when = (iso: string | null) => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : null);

/** Elapsed time for progress lines: `4.2s`, `1m05s`. */
export function elapsed(ms: number): string {
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  return `${Math.floor(seconds / 60)}m${String(Math.floor(seconds % 60)).padStart(2, '0')}s`;
}
