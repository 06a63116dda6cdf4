import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/log';
import { ExitWindow, LazySpanExporter } from '../../../src/telemetry/exporters';

/** Export once and return what the SDK would have been told. */
function exportOnce(exporter: LazySpanExporter): ExportResult {
  let seen: ExportResult | undefined;
  exporter.export([] as ReadableSpan[], result => (seen = result));
  return seen!;
}

describe('exporters loaded on first use', () => {
  it('an exporter that cannot be loaded fails the export with one warning, until an export succeeds', () => {
    const lines: string[] = [];
    let loadable = false;
    let collectorUp = true;
    const exporter = new LazySpanExporter(
      () => {
        if (!loadable)
          throw new Error('Cannot find module @opentelemetry/exporter-trace-otlp-proto');
        return () => ({
          export: (_spans, done) =>
            done(
              collectorUp
                ? { code: ExportResultCode.SUCCESS }
                : { code: ExportResultCode.FAILED, error: new Error('ECONNREFUSED') },
            ),
          shutdown: () => Promise.resolve(),
        });
      },
      new ExitWindow(),
      createLogger('debug', line => lines.push(line)),
      'traces (OTLP)',
    );

    const first = exportOnce(exporter);
    expect(first.code).toBe(ExportResultCode.FAILED);
    expect(first.error?.message).toMatch(/Cannot find module/);
    expect(exportOnce(exporter).code).toBe(ExportResultCode.FAILED);
    expect(lines.filter(line => line.includes('exporting traces (OTLP) failed'))).toHaveLength(1);

    loadable = true;
    expect(exportOnce(exporter).code).toBe(ExportResultCode.SUCCESS);
    // Loaded once, it stays loaded (the loader would throw again).
    loadable = false;
    collectorUp = false;
    expect(exportOnce(exporter).code).toBe(ExportResultCode.FAILED);
    // After a success, the next run of failures is reported again.
    expect(lines.filter(line => line.includes('exporting traces (OTLP) failed'))).toHaveLength(2);
  });
});
