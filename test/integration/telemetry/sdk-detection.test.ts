import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FIXTURES, REGISTER_CJS } from '../../support/run-app';
import {
  POLICIES,
  TelemetryApp,
  baldurSpans,
  clientSpans,
  closedPort,
  startTelemetryRig,
  type TelemetryRig,
  type AppResult,
} from './harness';

const APP_SDK = join(FIXTURES, 'apps/telemetry-sdk-setup.cjs');
const AUTO_REGISTER = '@opentelemetry/auto-instrumentations-node/register';
/** These tests need no attempt timeout; a loaded machine must not turn a slow 503 into one. */
const NO_TIMEOUT = { ...POLICIES, timeout: 0 };

/** One retried call (503, then 200) inside an application span; the app then exits. */
async function retriedCall(
  rig: TelemetryRig,
  options: Parameters<typeof TelemetryApp.start>[0],
): Promise<{ result: AppResult; stderr: string }> {
  const app = await TelemetryApp.start(options);
  rig.upstream.enqueue({ status: 503 });
  const result = await app.call({ op: 'get', url: `${rig.upstream.url}/x`, parent: true });
  expect(result.status).toBe(200);
  const exited = await app.exit();
  expect(exited.code, exited.stderr).toBe(0);
  return { result, stderr: exited.stderr };
}

describe('OpenTelemetry SDK detection', () => {
  let rig: TelemetryRig | undefined;

  afterEach(async () => {
    await rig?.stop();
    rig = undefined;
  });

  it.each([
    [
      'as a preload before Baldur',
      'telemetry-app.cjs',
      ['--require', APP_SDK, '--require', REGISTER_CJS],
    ],
    [
      'as a preload after Baldur',
      'telemetry-app.cjs',
      ['--require', REGISTER_CJS, '--require', APP_SDK],
    ],
    ["on the app's first line", 'telemetry-app-with-sdk.cjs', ['--require', REGISTER_CJS]],
  ] as const)(
    "reports through the app's own SDK registered %s, and starts none",
    async (_label, app, nodeArgs) => {
      rig = await startTelemetryRig(NO_TIMEOUT);
      const { result, stderr } = await retriedCall(rig, {
        app: `apps/${app}`,
        preload: 'none',
        nodeArgs,
        env: rig.env(),
      });
      expect(stderr).toContain("reporting through the application's OpenTelemetry SDK");
      expect(stderr).not.toContain('started the OpenTelemetry SDK');
      const { receiver } = rig;
      await receiver.waitFor(
        () => (baldurSpans(receiver.spans).length > 0 ? true : undefined),
        20_000,
        'the baldur span',
      );
      const trace = receiver.spans.filter(s => s.traceId === result.traceId);
      // Exported once, by the app's SDK (its resource, not Baldur's).
      const [span, ...more] = baldurSpans(trace);
      expect(more).toHaveLength(0);
      expect(span!.resource['service.name']).toBe('app-own-sdk');
      expect(span!.resource['telemetry.distro.name']).toBeUndefined();
      expect(span!.attributes).toMatchObject({ 'baldur.outcome': 'success', 'baldur.attempts': 2 });
      // One client span per attempt: the app's instrumentation-http, not a second copy of Baldur's.
      expect(clientSpans(trace)).toHaveLength(2);
      expect(receiver.spans.every(s => s.resource['service.name'] === 'app-own-sdk')).toBe(true);
      // Metrics went through the app's meter provider, durations included.
      await receiver.waitFor(
        () => receiver.lastPoint('baldur.calls', { 'baldur.policy': 'retry' }),
        20_000,
        'baldur.calls',
      );
      expect(receiver.lastPoint('baldur.calls', { 'baldur.policy': 'retry' })?.value).toBe(1);
      expect(
        receiver.lastPoint('baldur.call.duration', { 'baldur.outcome': 'success' })?.count,
      ).toBe(1);
    },
  );

  it.each([
    ['BALDUR_OTEL_SDK=off', { BALDUR_OTEL_SDK: 'off' }, 'BALDUR_OTEL_SDK=off'],
    ['OTEL_SDK_DISABLED=true', { OTEL_SDK_DISABLED: 'true' }, 'OTEL_SDK_DISABLED=true'],
  ])('%s: no SDK is started and nothing is exported', async (_label, env, reason) => {
    rig = await startTelemetryRig(NO_TIMEOUT);
    const { stderr } = await retriedCall(rig, {
      app: 'apps/telemetry-app.cjs',
      env: rig.env(env),
    });
    expect(stderr).toContain(`none started (${reason})`);
    expect(stderr).not.toContain('started the OpenTelemetry SDK');
    // The exit flush ran before the process ended: an SDK would have exported by now.
    expect(rig.receiver.requests).toEqual([]);
  });

  it('BALDUR_OTEL_SDK=off: an SDK the app registers late is used from then on', async () => {
    rig = await startTelemetryRig(NO_TIMEOUT);
    const app = await TelemetryApp.start({
      app: 'apps/telemetry-app.cjs',
      env: rig.env({ BALDUR_OTEL_SDK: 'off' }),
    });
    await app.decided();
    expect(app.app.stderr).toContain('none started (BALDUR_OTEL_SDK=off)');
    await app.call({ op: 'sdk' });
    rig.upstream.enqueue({ status: 503 });
    const result = await app.call({ op: 'get', url: `${rig.upstream.url}/late`, parent: true });
    expect(result.status).toBe(200);
    const exited = await app.exit();
    expect(exited.code, exited.stderr).toBe(0);
    expect(exited.stderr).toContain("reporting through the application's OpenTelemetry SDK");
    const { receiver } = rig;
    await receiver.waitFor(
      () => (baldurSpans(receiver.spans).length > 0 ? true : undefined),
      20_000,
      'the baldur span',
    );
    const [span] = baldurSpans(receiver.spans.filter(s => s.traceId === result.traceId));
    expect(span?.resource['service.name']).toBe('app-own-sdk');
    await receiver.waitFor(
      () => receiver.lastPoint('baldur.calls', { 'baldur.policy': 'retry' }),
      20_000,
      'baldur.calls',
    );
  });

  it.each([
    ['before', ['--require', AUTO_REGISTER, '--require', REGISTER_CJS]],
    ['after', ['--require', REGISTER_CJS, '--require', AUTO_REGISTER]],
  ] as const)(
    'coexists with auto-instrumentations-node/register loaded %s it: one SDK, no double spans',
    async (_label, nodeArgs) => {
      rig = await startTelemetryRig(NO_TIMEOUT);
      const { result, stderr } = await retriedCall(rig, {
        app: 'apps/telemetry-app.cjs',
        preload: 'none',
        nodeArgs,
        env: rig.env({
          OTEL_SERVICE_NAME: 'auto-app',
          OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'http,undici',
          OTEL_NODE_RESOURCE_DETECTORS: 'env',
        }),
      });
      expect(stderr).toContain("reporting through the application's OpenTelemetry SDK");
      const { receiver } = rig;
      await receiver.waitFor(
        () => (baldurSpans(receiver.spans).length > 0 ? true : undefined),
        20_000,
        'the baldur span',
      );
      const trace = receiver.spans.filter(s => s.traceId === result.traceId);
      expect(baldurSpans(trace)).toHaveLength(1);
      const clients = clientSpans(trace);
      expect(clients).toHaveLength(2);
      expect(clients.every(s => s.scope === '@opentelemetry/instrumentation-http')).toBe(true);
      expect(new Set(receiver.spans.map(s => s.resource['service.name']))).toEqual(
        new Set(['auto-app']),
      );
      expect(rig.upstream.requests).toHaveLength(2);
    },
  );

  it('ES module app (--import): Baldur starts its SDK and traces the calls', async () => {
    rig = await startTelemetryRig(NO_TIMEOUT);
    const app = await TelemetryApp.start({
      app: 'apps/telemetry-app.mjs',
      env: rig.env(),
    });
    // ES module entry points are evaluated after the preload; the SDK starts shortly after.
    await app.decided();
    expect(app.app.stderr).toContain('started the OpenTelemetry SDK');
    rig.upstream.enqueue({ status: 503 });
    const result = await app.call({ op: 'fetch', url: `${rig.upstream.url}/m`, parent: true });
    expect(result.status).toBe(200);
    const exited = await app.exit();
    expect(exited.code, exited.stderr).toBe(0);
    const { receiver } = rig;
    await receiver.waitFor(
      () => (baldurSpans(receiver.spans).length > 0 ? true : undefined),
      20_000,
      'the baldur span',
    );
    const trace = receiver.spans.filter(s => s.traceId === result.traceId);
    expect(baldurSpans(trace)).toHaveLength(1);
    expect(baldurSpans(trace)[0]!.parentSpanId).toBe(result.spanId);
    expect(
      clientSpans(trace)
        .map(s => s.attributes['http.request.resend_count'])
        .sort(),
    ).toEqual([1, undefined]);
  });

  it('SIGTERM with no collector reachable: flushes, then dies of the signal', async () => {
    rig = await startTelemetryRig(NO_TIMEOUT);
    const port = await closedPort();
    const app = await TelemetryApp.start({
      app: 'apps/telemetry-app.cjs',
      env: rig.env({ OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}` }),
    });
    rig.upstream.enqueue({ status: 503 });
    expect((await app.call({ op: 'get', url: `${rig.upstream.url}/s` })).status).toBe(200);
    await app.call({ op: 'hold' });
    app.app.child.kill('SIGTERM');
    const exited = await app.app.exited;
    expect(exited.signal).toBe('SIGTERM');
    expect(exited.code).toBeNull();
    // A collector that is not there is a warning at most: no crash, no stack trace.
    expect(exited.stderr).not.toMatch(/Unhandled|\n\s+at [^\n]+:\d+:\d+/);
  });
});
