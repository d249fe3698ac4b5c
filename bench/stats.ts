/** Latency summary in milliseconds. */
export function percentiles(samples: number[]): { p50: number; p99: number } {
  if (samples.length === 0) return { p50: NaN, p99: NaN };
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { p50: round(at(0.5)), p99: round(at(0.99)) };
}

export const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;

export function line(label: string, figures: Record<string, number | string>): string {
  return `${label.padEnd(44)} ${Object.entries(figures)
    .map(([k, v]) => `${k}=${v}`)
    .join('  ')}`;
}
