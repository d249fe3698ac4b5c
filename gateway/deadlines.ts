/**
 * How long the gateway gives a client. The database's own waits are bounded to seconds
 * (lib/db/connect.ts) and a submission to 2 s (outbox.ts), so a handler never waits for as
 * long as something stays silent. fastify's handlerTimeout would add a deadline per route,
 * but it costs ~40 µs of CPU per request (a trivial route measured alone: 50 → 90 µs; a
 * submission costs the gateway ~110 µs in all), for waits that are bounded already.
 */

/** Receiving a request, headers and body, from a slow client: a 64 MiB upload at 0.6 MB/s still fits. */
export const REQUEST_TIMEOUT_MS = 120_000;
/** A connection silent this long is closed: longer than the longest long poll (60 s). */
export const CONNECTION_TIMEOUT_MS = 90_000;
