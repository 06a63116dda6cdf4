import type { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import type * as NodeModule from 'node:module';
import type { Attributes, MeterProvider, TracerProvider } from '@opentelemetry/api';
import type {
  InstrumentationBase,
  InstrumentationModuleDefinition,
} from '@opentelemetry/instrumentation';
import { satisfies } from '../../instrumentations/shared/semver';
import type { InstrumentationName } from '../config/schema';
import { currentAttempt } from '../core/pipeline/pipeline';
import type { Logger } from '../log';

const lazyRequire = createRequire(__filename);

/** Stable HTTP semantic convention, set on the client span of every resent attempt. */
const RESEND_COUNT = 'http.request.resend_count';

const NO_ATTRIBUTES: Attributes = Object.freeze({});

/** `http.request.resend_count` of the attempt being started, from the pipeline's retry loop. */
function resendAttributes(): Attributes {
  const resend = currentAttempt.resend;
  return resend > 0 ? { [RESEND_COUNT]: resend } : NO_ATTRIBUTES;
}

interface LibraryInstrumentation {
  /** The package the instrumentation is published as. */
  readonly package: string;
  readonly exportName: string;
  /**
   * What its module definitions patch (a package's main export, or a file in it): hooked when
   * the application loads them. Kept in step with the instrumentation's `init()`.
   */
  readonly targets: readonly { readonly module: string; readonly file?: string }[];
}

/** Client libraries whose official instrumentation is applied when the application loads them. */
export const LIBRARY_INSTRUMENTATIONS: Partial<
  Record<InstrumentationName, LibraryInstrumentation>
> = {
  pg: {
    package: '@opentelemetry/instrumentation-pg',
    exportName: 'PgInstrumentation',
    targets: [
      { module: 'pg' },
      { module: 'pg', file: 'lib/client.js' },
      { module: 'pg', file: 'lib/native/client.js' },
      { module: 'pg-pool' },
    ],
  },
  mysql2: {
    package: '@opentelemetry/instrumentation-mysql2',
    exportName: 'MySQL2Instrumentation',
    targets: [
      { module: 'mysql2' },
      { module: 'mysql2', file: 'promise.js' },
      { module: 'mysql2', file: 'lib/connection.js' },
    ],
  },
  ioredis: {
    package: '@opentelemetry/instrumentation-ioredis',
    exportName: 'IORedisInstrumentation',
    targets: [{ module: 'ioredis' }],
  },
};

type InstrumentationClass = new (config: Record<string, unknown>) => InstrumentationBase;

function supported(ranges: readonly string[], version: string | undefined): boolean {
  if (version === undefined) return false;
  return ranges.some(range => range.trim() === '*' || satisfies(version, range));
}

/**
 * The official OpenTelemetry client instrumentations, applied when Baldur owns
 * the SDK so attempts appear as the usual client spans — each resend with
 * `http.request.resend_count`. They are loaded lazily: `http`/`https` and
 * undici when the SDK starts, pg/mysql2/ioredis only when the application loads
 * the library (through the agent's module hooks, registered ahead of the
 * patches that apply Baldur's policies, so the official wrapper sits inside
 * Baldur's and every attempt gets its own span). Nothing is enabled through
 * the instrumentations' own `enable()`, which would install a second set of
 * loader hooks (one more module resolution per `require` of the whole app);
 * their module definitions are applied directly, as `InstrumentationBase` does.
 */
export class OfficialInstrumentations {
  private readonly loaded = new Map<string, InstrumentationBase>();
  private readonly active = new Set<string>();

  constructor(
    private readonly selected: readonly InstrumentationName[],
    private readonly tracerProvider: TracerProvider,
    private readonly meterProvider: MeterProvider | undefined,
    private readonly logger: Logger,
    private readonly prometheusPort: number | undefined,
  ) {}

  /** Which official instrumentations are on, for the log line. */
  describe(): string {
    const later = (Object.keys(LIBRARY_INSTRUMENTATIONS) as InstrumentationName[]).filter(name =>
      this.selected.includes(name),
    );
    const now = [...this.active].join(', ') || 'none';
    return later.length === 0 ? now : `${now}; ${later.join(', ')} when loaded`;
  }

  /** Node's `http`/`https` (outgoing and incoming) and undici/fetch: patched now. */
  applyBuiltins(): void {
    if (this.selected.includes('http') || this.selected.includes('inbound')) {
      this.guard('http', () => {
        const prometheusPort = this.prometheusPort;
        const instrumentation = this.instantiate(
          '@opentelemetry/instrumentation-http',
          'HttpInstrumentation',
          {
            enabled: false,
            disableOutgoingRequestInstrumentation: !this.selected.includes('http'),
            disableIncomingRequestInstrumentation: !this.selected.includes('inbound'),
            startOutgoingSpanHook: resendAttributes,
            // Prometheus scrapes of Baldur's own endpoint are not application traffic.
            ignoreIncomingRequestHook: (request: IncomingMessage) =>
              prometheusPort !== undefined && request.socket?.localPort === prometheusPort,
          },
        );
        for (const definition of instrumentation.getModuleDefinitions()) {
          definition.patch?.(lazyRequire(definition.name));
        }
        // ESM named imports (`import { request } from 'node:http'`) are live bindings of these exports.
        (lazyRequire('node:module') as typeof NodeModule).syncBuiltinESMExports();
      });
    }
    if (this.selected.includes('fetch')) {
      this.guard('undici', () => {
        // Subscribes to undici's diagnostics channels; nothing is patched.
        this.instantiate('@opentelemetry/instrumentation-undici', 'UndiciInstrumentation', {
          startSpanHook: resendAttributes,
        });
      });
    }
  }

  /** What to hook for the selected client libraries. */
  static targetsFor(
    selected: readonly InstrumentationName[],
  ): { readonly module: string; readonly file?: string }[] {
    return selected.flatMap(name => LIBRARY_INSTRUMENTATIONS[name]?.targets ?? []);
  }

  /**
   * The application loaded `name` (a package, or a file inside one): apply the
   * official patches that target it and return the exports to hand on.
   */
  onLoad(moduleExports: unknown, name: string, version: string | undefined): unknown {
    const library = (Object.keys(LIBRARY_INSTRUMENTATIONS) as InstrumentationName[]).find(
      key =>
        this.selected.includes(key) &&
        LIBRARY_INSTRUMENTATIONS[key]!.targets.some(
          target => name === target.module || name.startsWith(`${target.module}/`),
        ),
    );
    if (library === undefined) return moduleExports;
    const spec = LIBRARY_INSTRUMENTATIONS[library]!;
    let result = moduleExports;
    this.guard(library, () => {
      let instrumentation = this.loaded.get(spec.package);
      if (instrumentation === undefined) {
        instrumentation = this.instantiate(spec.package, spec.exportName, { enabled: false });
        this.loaded.set(spec.package, instrumentation);
      }
      for (const definition of instrumentation.getModuleDefinitions()) {
        result = applyDefinition(definition, result, name, version);
      }
    });
    return result;
  }

  private instantiate(
    packageName: string,
    exportName: string,
    config: Record<string, unknown>,
  ): InstrumentationBase {
    const Instrumentation = (lazyRequire(packageName) as Record<string, InstrumentationClass>)[
      exportName
    ]!;
    const instrumentation = new Instrumentation(config);
    instrumentation.setTracerProvider(this.tracerProvider);
    if (this.meterProvider !== undefined) instrumentation.setMeterProvider(this.meterProvider);
    return instrumentation;
  }

  private guard(name: string, apply: () => void): void {
    try {
      apply();
      this.active.add(name);
    } catch (error) {
      this.logger.once(
        `official-instrumentation:${name}`,
        'warn',
        `the OpenTelemetry ${name} instrumentation could not be applied; its client spans are missing`,
        error,
      );
    }
  }
}

/** What `InstrumentationBase` does on a require hook, for one module definition. */
function applyDefinition(
  definition: InstrumentationModuleDefinition,
  moduleExports: unknown,
  name: string,
  version: string | undefined,
): unknown {
  if (name === definition.name) {
    if (!supported(definition.supportedVersions, version) || definition.patch === undefined)
      return moduleExports;
    if (version !== undefined) definition.moduleVersion = version;
    definition.moduleExports = moduleExports;
    return (definition.patch(moduleExports, version) as unknown) ?? moduleExports;
  }
  let result = moduleExports;
  for (const file of definition.files) {
    if (file.name !== name || !supported(file.supportedVersions, version)) continue;
    if (version !== undefined) definition.moduleVersion = version;
    file.moduleExports = result;
    result = file.patch(result, version) ?? result;
  }
  return result;
}
