/**
 * SIGINT/SIGTERM/SIGHUP → AbortSignal. A second signal exits at once, but copies of
 * one signal that arrive together (a terminal's Ctrl-C reaches both
 * `deno task` and the service, and `deno task` forwards it too) count as one.
 */

/** Decides what each arriving signal means; pure, so it can be tested with a fake clock. */
export class SignalLatch {
  #first: number | undefined;

  constructor(private readonly windowMs: number, private readonly now: () => number = Date.now) {}

  /** "shutdown" for the first, "ignore" for copies within the window, "hard-exit" after. */
  receive(): "shutdown" | "ignore" | "hard-exit" {
    const t = this.now();
    if (this.#first === undefined) {
      this.#first = t;
      return "shutdown";
    }
    return t - this.#first < this.windowMs ? "ignore" : "hard-exit";
  }
}

/** Wires SIGINT, SIGTERM and SIGHUP to `controller`; returns a function that unwires them. */
export function onShutdownSignals(
  controller: AbortController,
  opts: { onHardExit: (signal: string) => void; onShutdown?: (signal: string) => void; windowMs?: number },
): () => void {
  const latch = new SignalLatch(opts.windowMs ?? 1000);
  // SIGHUP (the terminal closed, or `kill -HUP`) drains too: its default action would exit at once.
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM", "SIGHUP"];
  const handlers = signals.map((sig) => {
    const handler = () => {
      const action = latch.receive();
      if (action === "shutdown") {
        opts.onShutdown?.(sig);
        controller.abort(new Error(`received ${sig}`));
      } else if (action === "hard-exit") {
        opts.onHardExit(sig);
      }
    };
    Deno.addSignalListener(sig, handler);
    return [sig, handler] as const;
  });
  return () => {
    for (const [sig, handler] of handlers) Deno.removeSignalListener(sig, handler);
  };
}
