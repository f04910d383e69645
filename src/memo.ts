/**
 * A bounded memo of facts worked out per key: the service reads the same few
 * hundred stream keys over and over, and works out what each gives once.
 * Emptied when it reaches `max` keys (a new key per entry, say, from a
 * producer gone wrong), so it never grows with the input.
 */
export class Memo<T> {
  readonly #facts = new Map<string, T>();

  constructor(private readonly work: (key: string) => T, private readonly max = 10_000) {}

  /** The facts of `key`, worked out now or remembered. */
  get(key: string): T {
    let facts = this.#facts.get(key);
    if (facts === undefined) {
      facts = this.work(key);
      if (this.#facts.size >= this.max) this.#facts.clear();
      this.#facts.set(key, facts);
    }
    return facts;
  }
}
