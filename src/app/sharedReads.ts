/**
 * Reads of one key that overlap share a single read: the host hands a worker a batch of a job's work
 * messages at once, and each would otherwise read the same job document at the same moment. A read
 * asked for after the shared one has settled reads afresh, so no answer is older than the moment its
 * caller asked, give or take one read's round trip.
 */
export function sharedReads<K, V>(read: (key: K) => Promise<V>): (key: K) => Promise<V> {
  const inFlight = new Map<K, Promise<V>>();
  return (key) => {
    const pending = inFlight.get(key);
    if (pending !== undefined) return pending;
    const started = read(key);
    inFlight.set(key, started);
    const forget = (): void => {
      inFlight.delete(key);
    };
    started.then(forget, forget);
    return started;
  };
}
