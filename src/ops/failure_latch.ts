/**
 * Logs a repeated failure once: again only when its description changes,
 * and once more (at INFO) when it stops.
 */
import type { Logger } from "../log.ts";
import { describe } from "../errors.ts";

/** One failure that may repeat (per batch, say), logged once. */
export class FailureLatch {
  #last: string | undefined;

  constructor(
    private readonly log: Logger,
    private readonly messages: { failed: string; recovered: string },
  ) {}

  /** Records a failure; logs it unless it is the one logged last. */
  failed(err: unknown, fields: Record<string, unknown> = {}): void {
    const error = describe(err);
    if (this.#last === error) return;
    this.#last = error;
    this.log.error(this.messages.failed, { error, ...fields });
  }

  /** Records a success; logs the recovery if a failure was logged. */
  ok(): void {
    if (this.#last === undefined) return;
    this.#last = undefined;
    this.log.info(this.messages.recovered);
  }
}
