import { loadProcessConfig } from '../config/load';
import type { BaldurOptions } from '../config/schema';
import { Engine } from '../engine/engine';
import { createLogger } from '../log';
import { createFleet } from '../fleet/fleet';
import { createStore } from '../store/create-store';
import { baldurGlobal, engineTelemetryOptions } from './global-state';

/**
 * Configure Baldur: built-in defaults < config file < `BALDUR_*` environment <
 * `options`. Throws a `ConfigError` (synchronously) when anything is invalid;
 * on success, protected functions use the new configuration from their next
 * call. Calling it again replaces the configuration and starts with fresh state.
 */
export function start(options?: BaldurOptions): void {
  const { config, warnings, file } = loadProcessConfig(options);
  const logger = createLogger(config.logLevel);
  for (const warning of warnings) logger.warn(warning);
  const state = baldurGlobal();
  const store = createStore(config, { logger }); // throws ConfigError like the rest of the configuration
  const engine = new Engine({
    config,
    logger,
    bus: state.bus,
    ...engineTelemetryOptions(state),
    ...(store === undefined ? {} : { store, fleet: createFleet }),
  });
  if (!config.enabled) engine.setKillSwitch(true, 'disabled by configuration (enabled: false)');
  if (file !== undefined) logger.info(`configuration read from ${file}`);
  const previous = state.engine;
  state.engine = engine;
  if (previous !== undefined) {
    previous
      .shutdown()
      .catch((error: unknown) => logger.warn('shutting down the previous engine failed', error));
  }
}

/** Flush pending dead letters and release the store. Later calls start over with defaults. */
export async function shutdown(): Promise<void> {
  const state = baldurGlobal();
  const engine = state.engine;
  state.engine = undefined;
  await engine?.shutdown();
}
