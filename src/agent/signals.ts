/**
 * Flush on the way out without changing how the process exits. The official
 * OpenTelemetry `register` swallows SIGTERM (its listener replaces Node's
 * default "terminate"); we must not. On SIGTERM/SIGINT we flush with a deadline
 * and, unless the application has its own listener for the signal (then it
 * decides), re-raise the signal with our listener removed so the process dies
 * exactly as it would have without us.
 */
const SIGNALS = ['SIGTERM', 'SIGINT'] as const;

export function installExitHandlers(flush: () => Promise<void>, deadlineMs: number): () => void {
  const flushWithDeadline = (): Promise<void> =>
    Promise.race([
      flush().catch(() => undefined),
      new Promise<void>(resolve => setTimeout(resolve, deadlineMs).unref()),
    ]);

  const handlers = new Map<NodeJS.Signals, () => void>();
  for (const signal of SIGNALS) {
    const handler = (): void => {
      const appHandlesIt = process.listeners(signal).some(listener => listener !== handler);
      void flushWithDeadline().then(() => {
        if (appHandlesIt) return;
        process.removeListener(signal, handler);
        process.kill(process.pid, signal);
      });
    };
    handlers.set(signal, handler);
    process.on(signal, handler);
  }
  const onBeforeExit = (): void => void flushWithDeadline();
  process.once('beforeExit', onBeforeExit);

  return () => {
    for (const [signal, handler] of handlers) process.removeListener(signal, handler);
    process.removeListener('beforeExit', onBeforeExit);
  };
}
