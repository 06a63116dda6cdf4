import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load';
import { readOtelEnvironment } from '../../../src/config/otel-env';
import { EventBus } from '../../../src/core/events';
import { newDurationSlot } from '../../../src/core/pipeline/stats';
import { createLogger } from '../../../src/log';
import { Telemetry } from '../../../src/telemetry/index';

/**
 * Whether calls are timed follows what can read their timing: nothing while
 * Baldur has no SDK to report through, and both durations and span timing
 * when only one of metrics or traces is exported.
 */
function telemetry(env: Record<string, string>) {
  const durationSink = newDurationSlot();
  const lines: string[] = [];
  const instance = new Telemetry({
    config: loadConfig({ files: false, env: { BALDUR_OTEL_SDK: 'off' } }).config,
    otel: readOtelEnvironment(env),
    logger: createLogger('info', line => lines.push(line)),
    bus: new EventBus(() => undefined),
    engine: () => undefined,
    durationSink,
    esm: false,
  });
  return { instance, durationSink, lines };
}

describe('call timing switch', () => {
  it('stops timing calls once it finds no SDK to report through, and for good at shutdown', async () => {
    const { instance, durationSink, lines } = telemetry({});
    expect(instance.measureDurations).toBe(true);
    expect(durationSink.measuring).toBe(true); // until the decision
    await instance.flush(100); // makes the decision now
    expect(lines.join('\n')).toContain('none started (BALDUR_OTEL_SDK=off)');
    expect(durationSink.measuring).toBe(false);
    await instance.shutdown();
    expect(durationSink.measuring).toBe(false);
  });

  it('times calls when traces alone are exported (span timing), not when nothing is', () => {
    expect(telemetry({ OTEL_METRICS_EXPORTER: 'none' }).instance.measureDurations).toBe(true);
    expect(
      telemetry({ OTEL_METRICS_EXPORTER: 'none', OTEL_TRACES_EXPORTER: 'none' }).instance
        .measureDurations,
    ).toBe(false);
  });
});
