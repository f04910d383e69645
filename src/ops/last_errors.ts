/**
 * The last failure of each entry kept pending, so that its dead letter can
 * say why once it is past MAX_DELIVERIES; bounded (the oldest is forgotten).
 */
const MAX_REMEMBERED_ERRORS = 10_000;

/** Entry key → its last error, at most {@link MAX_REMEMBERED_ERRORS} of them. */
export class LastErrors {
  readonly #errors = new Map<string, string>();

  /** Remembers `error` as the last failure of entry `key`. */
  remember(key: string, error: string): void {
    if (this.#errors.size >= MAX_REMEMBERED_ERRORS && !this.#errors.has(key)) {
      const oldest = this.#errors.keys().next().value;
      if (oldest !== undefined) this.#errors.delete(oldest);
    }
    this.#errors.set(key, error);
  }

  get(key: string): string | undefined {
    return this.#errors.get(key);
  }

  delete(key: string): void {
    this.#errors.delete(key);
  }
}
