// Keeping a session up across ends: relay restarts, networks dropping,
// endpoints leaving. Attach tokens are single-use, so every attempt asks the
// application for a fresh grant; attempts back off exponentially with
// jitter, as rathole's and frp's clients do, and start over after a session
// that lived a while.

import { CorridorError, errorOf } from "./errors.js";
import type { Session } from "./session.js";

export interface ReconnectOptions {
  /** Opens one session: typically `() => connectTunnel(await fetchGrantFromYourBackend(), options)`. */
  connect: () => Promise<Session>;
  /** Called with every new session (register handlers and subscriptions here). */
  onSession?: (session: Session) => void;
  /** Called when a session ends or an attempt fails, with the attempt's number (0 after a session). */
  onDisconnect?: (error: CorridorError, attempt: number) => void;
  /** First delay in ms (default 250); doubles per failed attempt up to `maxDelay` (default 10 s), each with up to 50% jitter. */
  initialDelay?: number;
  maxDelay?: number;
}

/** A session kept up by reconnecting. */
export class Reconnecting {
  private current: Session | null = null;
  private waiters: { resolve: (session: Session) => void; reject: (error: unknown) => void }[] = [];
  private stopped = false;
  private wake: (() => void) | null = null;
  /** Resolves when `close()` has ended the loop. */
  readonly done: Promise<void>;

  constructor(private readonly options: ReconnectOptions) {
    this.done = this.loop();
  }

  /** The live session, waiting for the next one if there is none. */
  session(): Promise<Session> {
    if (this.current) return Promise.resolve(this.current);
    if (this.stopped) return Promise.reject(new CorridorError("closed", "reconnecting was stopped"));
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** Stops reconnecting and closes the live session. */
  async close(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    for (const waiter of this.waiters.splice(0)) waiter.reject(new CorridorError("closed", "reconnecting was stopped"));
    await this.current?.close();
    await this.done;
  }

  private async loop(): Promise<void> {
    const initial = this.options.initialDelay ?? 250;
    const max = this.options.maxDelay ?? 10_000;
    let attempt = 0;
    while (!this.stopped) {
      let session: Session;
      try {
        session = await this.options.connect();
      } catch (error) {
        attempt++;
        this.options.onDisconnect?.(errorOf(error, "connect_failed"), attempt);
        const delay = Math.min(max, initial * 2 ** (attempt - 1));
        await this.sleep(delay * (0.5 + Math.random() / 2));
        continue;
      }
      if (this.stopped) {
        await session.close();
        break;
      }
      attempt = 0;
      this.current = session;
      this.options.onSession?.(session);
      for (const waiter of this.waiters.splice(0)) waiter.resolve(session);
      const reason = await session.closed;
      this.current = null;
      if (!this.stopped) this.options.onDisconnect?.(reason, 0);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

/** Starts keeping a session up; see `ReconnectOptions`. */
export function reconnecting(options: ReconnectOptions): Reconnecting {
  return new Reconnecting(options);
}
