/**
 * Waiters of several jobs served in weighted fair order (start-time fair queueing, one unit per waiter):
 * each waiter gets a start tag `max(V, the job's last finish tag)` and moves its job's finish tag on by
 * `1 / weight`; the waiter with the smallest start tag is served next (ties by arrival) and `V` becomes
 * its tag. Jobs of one weight alternate; a job of weight 32 beside one of weight 1 is served 32 times to
 * its 1, and neither waits for the other's earlier arrivals. A job that had nobody waiting starts at `V`:
 * no credit for idle time. Pure; the same rule as the feeder's (decision 0012), for one process's waiters.
 */
export interface FairTurn {
  /** Whose turn it is: waiters of one key share that key's weight. */
  readonly key: string;
  /** Its weight, from 1 up. */
  readonly weight: number;
}

/** A waiter; the line keeps them in arrival order, which breaks ties between equal start tags. */
interface Entry<T> {
  readonly item: T;
  readonly weight: number;
  readonly start: number;
}

export class FairWaitingLine<T> {
  readonly #waiting: Entry<T>[] = [];
  /** Each key's last finish tag; a key whose tag falls behind V is forgotten (it would start at V anyway). */
  readonly #finish = new Map<string, number>();
  #virtualTime = 0;

  get length(): number {
    return this.#waiting.length;
  }

  push(item: T, turn: FairTurn): void {
    const weight = Math.max(1, turn.weight);
    const start = Math.max(this.#virtualTime, this.#finish.get(turn.key) ?? 0);
    this.#finish.set(turn.key, start + 1 / weight);
    this.#waiting.push({ item, weight, start });
  }

  /** The next waiter in fair order, taken out of the line; undefined when nobody waits. */
  shift(): T | undefined {
    let best = -1;
    for (let i = 0; i < this.#waiting.length; i += 1) {
      const entry = this.#waiting[i]!;
      const current = this.#waiting[best];
      if (current === undefined || entry.start < current.start) best = i;
    }
    if (best < 0) return undefined;
    const [entry] = this.#waiting.splice(best, 1);
    this.#virtualTime = Math.max(this.#virtualTime, entry!.start);
    this.#forgetIdle();
    return entry!.item;
  }

  /** Waiters of keys lighter than the heaviest one waiting: the ones its waiters overtake. */
  overtaken(): number {
    let heaviest = 0;
    for (const entry of this.#waiting) heaviest = Math.max(heaviest, entry.weight);
    return this.#waiting.filter((entry) => entry.weight < heaviest).length;
  }

  /** Takes out the waiters `leaves` picks (those that stop waiting), in arrival order. */
  remove(leaves: (item: T) => boolean): T[] {
    const left: T[] = [];
    for (let i = this.#waiting.length - 1; i >= 0; i -= 1) {
      if (leaves(this.#waiting[i]!.item)) left.unshift(this.#waiting.splice(i, 1)[0]!.item);
    }
    return left;
  }

  #forgetIdle(): void {
    for (const [key, finish] of this.#finish) if (finish <= this.#virtualTime) this.#finish.delete(key);
  }
}
