export interface ShutdownControllerOptions {
  /** Stops everything gracefully (the host drains its invocations, bounded by its own stop timeout). */
  readonly stop: () => Promise<void>;
  readonly exit: (code: number) => void;
  readonly report: (message: string) => void;
  /** Named in the message; the host enforces it. */
  readonly stopTimeoutInMs: number;
}

export interface ShutdownController {
  signal(name: string): void;
}

/** Exit code after a second signal, as a shell reports a process ended by SIGINT. */
export const IMMEDIATE_EXIT_CODE = 130;

/**
 * What `npm start` does on Ctrl-C/SIGTERM: the first signal stops gracefully (no new work is taken, work under
 * way finishes within the stop timeout) and exits 0, or 1 if stopping failed; a second signal exits at once.
 */
export function createShutdownController(options: ShutdownControllerOptions): ShutdownController {
  let stopping = false;
  return {
    signal(name) {
      if (stopping) {
        options.report(`${name} again: exiting now. Queue messages under way are delivered again after their lease.`);
        options.exit(IMMEDIATE_EXIT_CODE);
        return;
      }
      stopping = true;
      options.report(
        `${name}: draining. No new work is taken; calls under way get up to ${options.stopTimeoutInMs / 1000} s to finish. ` +
          'Press Ctrl-C again to exit at once.',
      );
      options.stop().then(
        () => {
          options.report('Stopped.');
          options.exit(0);
        },
        (error: unknown) => {
          options.report(`Stopping failed: ${error instanceof Error ? error.message : String(error)}`);
          options.exit(1);
        },
      );
    },
  };
}
