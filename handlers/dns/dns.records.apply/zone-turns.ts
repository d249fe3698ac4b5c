/**
 * Changes to one zone leave this process one at a time, in the order their jobs arrived: the
 * handler runs many jobs at once, and two UPDATEs to one RRset that overtake each other would
 * leave the older state on the server. (Across handler processes the broker's order is all there is.)
 */
const tails = new Map<string, Promise<void>>();

export function inZoneOrder<T>(zone: string, work: () => Promise<T>): Promise<T> {
  const previous = tails.get(zone) ?? Promise.resolve();
  const turn = previous.then(work);
  const tail = turn.then(
    () => undefined,
    () => undefined,
  );
  tails.set(zone, tail);
  void tail.then(() => {
    if (tails.get(zone) === tail) tails.delete(zone);
  });
  return turn;
}
