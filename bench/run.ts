import { benchPipeline } from './pipeline.ts';

/**
 * `npm run bench`: every benchmark in one run, each printing its figures next to the
 * baseline it compares against; the last line is one JSON object with all the figures.
 */
const only = process.argv[2];
const figures: Record<string, unknown> = {};

if (!only || only === 'pipeline') figures.pipeline = await benchPipeline({ messages: Number(process.env.UP_BENCH_MESSAGES ?? 20_000) });

console.log(JSON.stringify(figures));
