import { INSTRUMENTATIONS } from '../../instrumentations';
import { ModuleHooks } from '../../instrumentations/shared/module-hooks';
import type { AgentContext } from '../../instrumentations/shared/types';
import { baldurGlobal, engineTelemetryOptions } from '../api/global-state';
import { ConfigError } from '../config/config-error';
import { loadProcessConfig, strictFromEnvironment, type BaldurConfig } from '../config/load';
import { readOtelEnvironment } from '../config/otel-env';
import { Engine, type EngineOptions } from '../engine/engine';
import { createLogger, type Logger } from '../log';
import { createTelemetry } from '../telemetry';
import type * as FleetModule from '../fleet/fleet';
import type * as CreateStore from '../store/create-store';
import { installExitHandlers } from './signals';

/** Exit status for an invalid configuration under `BALDUR_STRICT=true` (EX_CONFIG). */
export const EXIT_CONFIG = 78;

/** How long exit paths wait for pending writes (dead letters, store) before letting the process go. */
const EXIT_FLUSH_DEADLINE_MS = 500;

export interface Agent {
  readonly engine: Engine;
  readonly config: BaldurConfig;
  /** Instrumentations that were installed. */
  readonly instrumentations: readonly string[];
  readonly esm: boolean;
  shutdown(): Promise<void>;
}

const kAgent = Symbol.for('baldur.agent.v1');

/**
 * Start the zero-code agent (the preload's whole job). Never throws into the
 * host: invalid configuration prints one line and leaves the app unprotected
 * (or exits with status 78 under BALDUR_STRICT=true); an instrumentation that
 * fails to install is logged and skipped. Idempotent: a second call (both
 * `--require` and `--import` given, or two copies of the package) returns the
 * running agent.
 */
export function startAgent(options: { esm: boolean }): Agent | undefined {
  const holder = globalThis as unknown as Record<symbol, Agent | undefined>;
  const running = holder[kAgent];
  if (running !== undefined) return running;

  let config: BaldurConfig;
  let logger: Logger;
  try {
    const loaded = loadProcessConfig();
    config = loaded.config;
    logger = createLogger(config.logLevel);
    for (const warning of loaded.warnings) logger.warn(warning);
    if (loaded.file !== undefined) logger.info(`configuration read from ${loaded.file}`);
  } catch (error) {
    const message =
      error instanceof ConfigError ? error.message : `cannot load configuration: ${String(error)}`;
    if (strictFromEnvironment()) {
      process.stderr.write(`[baldur] error: ${message}; exiting (BALDUR_STRICT=true)\n`);
      process.exit(EXIT_CONFIG);
    }
    process.stderr.write(`[baldur] error: ${message}; the application runs unprotected\n`);
    return undefined;
  }
  if (!config.enabled) {
    logger.info('disabled by configuration (BALDUR_ENABLED=false): nothing is patched');
    return undefined;
  }

  const state = baldurGlobal();
  // Telemetry first: whether durations are measured is an engine option, and its module patches
  // must come before the instrumentations' (see Telemetry.addLibraryPatches).
  const telemetry = createTelemetry({
    config,
    otel: readOtelEnvironment(),
    logger,
    bus: state.bus,
    engine: () => state.engine,
    durationSink: state.telemetry.durationSink,
    esm: options.esm,
  });
  state.telemetry.measureDurations = telemetry?.measureDurations ?? false;
  const engine = new Engine({
    config,
    logger,
    bus: state.bus,
    ...engineTelemetryOptions(state),
    ...sharedStateOptions(config, logger),
  });
  state.engine = engine;
  const context: AgentContext = { engine, logger, config };
  const hooks = new ModuleHooks(context);
  telemetry?.addLibraryPatches(hooks);
  const installed: string[] = [];
  for (const instrumentation of INSTRUMENTATIONS) {
    if (!config.instrumentations.includes(instrumentation.name)) continue;
    try {
      instrumentation.install?.(context);
      for (const patch of instrumentation.modules) hooks.add(patch);
      installed.push(instrumentation.name);
    } catch (error) {
      logger.error(
        `the ${instrumentation.name} instrumentation failed to install; it stays off`,
        error,
      );
    }
  }
  hooks.enable(options.esm);
  telemetry?.schedule();

  const removeExitHandlers = installExitHandlers(
    () =>
      Promise.all([engine.deadLetters.flush(), telemetry?.flush(EXIT_FLUSH_DEADLINE_MS)]).then(
        () => undefined,
      ),
    EXIT_FLUSH_DEADLINE_MS,
  );
  const agent: Agent = {
    engine,
    config,
    instrumentations: installed,
    esm: options.esm,
    async shutdown() {
      removeExitHandlers();
      hooks.disable();
      await Promise.all([engine.shutdown(), telemetry?.shutdown()]);
    },
  };
  Object.defineProperty(globalThis, kAgent, {
    value: agent,
    configurable: true,
    enumerable: false,
  });
  logger.info(
    `agent started (${installed.join(', ') || 'no instrumentations'}; ${options.esm ? 'CommonJS + ESM' : 'CommonJS'})`,
  );
  return agent;
}

/**
 * A shared store and the fleet layer, when the configuration asks for one.
 * Required lazily: in the default memory mode the preload never loads (nor
 * keeps in memory) the Redis, SQL and fleet code.
 */
function sharedStateOptions(config: BaldurConfig, logger: Logger): Partial<EngineOptions> {
  if (config.store.redisUrl === undefined && config.store.sqlDsn === undefined) return {};
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { storeOptionForAgent } = require('../store/create-store') as typeof CreateStore;
  const { createFleet } = require('../fleet/fleet') as typeof FleetModule;
  /* eslint-enable @typescript-eslint/no-require-imports */
  const option = storeOptionForAgent(config, logger);
  return option.store === undefined ? {} : { store: option.store, fleet: createFleet };
}
