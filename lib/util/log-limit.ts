/** Where a line goes: `logger.warn` or `logger.error`. */
export type LogLine = (message: string) => void;

/**
 * A log line that may repeat on every request (a provider down, a browser at the wrong host)
 * logged once, then at most once per `everyMs` with how many were held back since, so that an
 * operator learns of it without a flood. Instance state: one per middleware (or provider) instance.
 */
export class LogLimit {
  #quietUntil = 0;
  #held = 0;

  constructor(private readonly everyMs: number) {}

  /** Calls `log` with `message` (and the count held back) unless a line went out less than `everyMs` ago. */
  log(log: LogLine, message: string, now = Date.now()): void {
    if (now < this.#quietUntil) {
      this.#held++;
      return;
    }
    const also = this.#held > 0 ? ` (${this.#held} more like it since the last one)` : '';
    log(`${message}${also}`);
    this.#quietUntil = now + this.everyMs;
    this.#held = 0;
  }

  /** Forgets the last line: after a recovery, the next failure is news and is logged at once. */
  reset(): void {
    this.#quietUntil = 0;
    this.#held = 0;
  }
}
