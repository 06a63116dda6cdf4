import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FIXTURES } from '../../support/run-app';
import { selfSignedCertificate } from '../../support/self-signed';
import { Client, sleep, startRig, testPolicies, until, type Rig } from './harness';

/**
 * node:http / node:https under the agent, in real child processes (CommonJS
 * with --require, ESM with --import and named imports), against an
 * HttpUpstream behind a FaultProxy.
 */
describe.each(['http-client.cjs', 'http-client.mjs'])('node:http agent (%s)', app => {
  let rig: Rig | undefined;
  let client: Client | undefined;

  afterEach(async () => {
    await client?.stop();
    await rig?.stop();
    client = undefined;
    rig = undefined;
  });

  async function setUp(policies: Record<string, unknown>): Promise<{ rig: Rig; client: Client }> {
    rig = await startRig(policies);
    client = await Client.start(app, rig);
    return { rig, client };
  }

  it('opens the breaker at its threshold, fails fast without a connection, and recovers through a probe', async () => {
    const { rig, client } = await setUp(
      // Long enough that a loaded machine cannot reach half-open before the fail-fast checks.
      testPolicies({
        retry: false,
        circuitBreaker: { failureThreshold: 3, recoveryTimeout: '1500ms' },
      }),
    );
    await rig.proxy.setMode('reset');
    for (let i = 0; i < 3; i++) {
      const result = await client.call({ url: `${rig.url}/x` });
      expect(result.error?.code).toBe('ECONNRESET');
    }
    expect(rig.proxy.connections).toBe(3);

    const rejected = await client.call({ url: `${rig.url}/x` });
    expect(rejected.error).toMatchObject({ name: 'CircuitOpenError', code: 'BALDUR_CIRCUIT_OPEN' });
    expect(rejected.error.dependency).toBe(`http:127.0.0.1:${rig.proxy.address.port}`);
    expect(rejected.error.retryAfterMs).toBeGreaterThan(0);
    // Delivered as Node delivers its own failures: 'error' then 'close', and no socket at all.
    expect(rejected.events).toEqual(['error:BALDUR_CIRCUIT_OPEN', 'close']);
    const callback = await client.call({ url: `${rig.url}/x`, style: 'get' });
    expect(callback.error?.code).toBe('BALDUR_CIRCUIT_OPEN');
    expect(rig.proxy.connections).toBe(3);

    await rig.proxy.setMode('pass');
    await sleep(1600);
    const probe = await client.call({ url: `${rig.url}/probe` });
    expect(probe.status).toBe(200);
    const after = await client.call({ url: `${rig.url}/after` });
    expect(after.status).toBe(200);
    expect(rig.upstream.requests.map(r => r.url)).toEqual(['/probe', '/after']);
  });

  it('governs subclassed and custom agents, and a request function captured before it started', async () => {
    // One client; each way of making the request gets an upstream of its own (its own breaker).
    const policies = testPolicies({
      retry: false,
      circuitBreaker: { failureThreshold: 2, recoveryTimeout: '60s' },
    });
    rig = await startRig(policies);
    client = await Client.start(app, rig, {
      nodeArgs: ['--require', join(FIXTURES, 'apps/capture-http-request.cjs')],
    });
    const ways: Record<string, unknown>[] = [
      { agent: 'subclass' },
      { agent: 'custom' },
      { captured: true },
      { captured: true, agent: 'custom' },
    ];
    for (const way of ways) {
      const target = await startRig(policies);
      try {
        const healthy = await client.call({ url: `${target.url}/ok`, ...way });
        expect(healthy).toMatchObject({ status: 200, body: 'ok' });
        await target.proxy.setMode('reset');
        for (let i = 0; i < 2; i++) {
          const failed = await client.call({ url: `${target.url}/x`, ...way });
          expect(failed.error?.code).toBe('ECONNRESET');
        }
        const connections = target.proxy.connections;
        const rejected = await client.call({ url: `${target.url}/x`, ...way });
        expect(rejected.error?.code, JSON.stringify(way)).toBe('BALDUR_CIRCUIT_OPEN');
        expect(rejected.events).toEqual(['error:BALDUR_CIRCUIT_OPEN', 'close']);
        expect(target.proxy.connections).toBe(connections);
      } finally {
        await target.stop();
      }
    }
  });

  it('retries a GET on 503 and on ECONNRESET, on a new request the caller never sees', async () => {
    const { rig, client } = await setUp(
      testPolicies({ retry: { maxAttempts: 3, baseDelay: '300ms', jitter: 0, budget: false } }),
    );
    rig.upstream.enqueue({ status: 503, body: 'busy' });
    const retried = await client.call({ url: `${rig.url}/a`, style: 'callback' });
    expect(retried.status).toBe(200);
    expect(retried.body).toBe('ok');
    expect(rig.upstream.requests).toHaveLength(2);
    // One response, one close: the failed attempt never reached the application.
    expect(retried.events.filter((e: string) => e.startsWith('response'))).toEqual([
      'response:200',
    ]);
    expect(retried.events.filter((e: string) => e === 'close')).toHaveLength(1);
    expect(retried.events).not.toContain('error:ECONNRESET');

    rig.upstream.reset();
    await rig.proxy.setMode('reset');
    const before = rig.proxy.connections;
    const pending = client.call({ url: `${rig.url}/b` });
    await until(() => rig.proxy.connections > before);
    await rig.proxy.setMode('pass');
    const reset = await pending;
    expect(reset.status).toBe(200);
    expect(reset.events.filter((e: string) => e.startsWith('error'))).toEqual([]);
    expect(rig.upstream.requests.map(r => r.url)).toEqual(['/b']);

    // Through agents of other kinds, each retry is one request: never governed twice over.
    for (const agent of ['subclass', 'custom']) {
      rig.upstream.reset();
      rig.upstream.enqueue({ status: 503, body: 'busy' });
      rig.upstream.enqueue({ status: 503, body: 'busy' });
      const viaAgent = await client.call({ url: `${rig.url}/${agent}`, agent });
      expect(viaAgent.status).toBe(200);
      expect(rig.upstream.requests).toHaveLength(3);
    }
  });

  it('retries an https request made through a custom agent over TLS, one request per attempt', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'baldur-https-'));
    try {
      const certificate = selfSignedCertificate(dir);
      if (certificate === undefined) {
        console.warn('[skip] openssl is not available: no https retry through a custom agent');
        return;
      }
      rig = await startRig(
        testPolicies({ retry: { maxAttempts: 3, baseDelay: '20ms', jitter: 0, budget: false } }),
        certificate,
      );
      client = await Client.start(app, rig);
      // The custom agent names no protocol of its own: every attempt still reaches the TLS upstream.
      rig.upstream.enqueue({ status: 503, body: 'busy' });
      rig.upstream.enqueue({ status: 503, body: 'busy' });
      const retried = await client.call({ url: `${rig.url}/tls`, agent: 'customTls' });
      expect(retried).toMatchObject({ status: 200, body: 'ok' });
      expect(retried.events.filter((e: string) => e.startsWith('response'))).toEqual([
        'response:200',
      ]);
      expect(rig.upstream.requests.map(r => r.url)).toEqual(['/tls', '/tls', '/tls']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('never retries a request with a body, and retries a POST carrying an Idempotency-Key', async () => {
    const { rig, client } = await setUp(
      testPolicies({ circuitBreaker: { failureThreshold: 100 } }),
    );
    rig.upstream.enqueue({ status: 503 });
    const post = await client.call({ url: `${rig.url}/orders`, method: 'POST', body: '{"n":1}' });
    expect(post.status).toBe(503);
    expect(rig.upstream.requests).toHaveLength(1);

    rig.upstream.reset();
    rig.upstream.enqueue({ status: 503 });
    const put = await client.call({ url: `${rig.url}/doc`, method: 'PUT', bodyChunks: ['a', 'b'] });
    expect(put.status).toBe(503);
    expect(rig.upstream.requests).toHaveLength(1);

    rig.upstream.reset();
    rig.upstream.enqueue({ status: 503 });
    const keyed = await client.call({
      url: `${rig.url}/orders`,
      method: 'POST',
      headers: { 'Idempotency-Key': 'order-17' },
    });
    expect(keyed.status).toBe(200);
    expect(rig.upstream.requests).toHaveLength(2);
    expect(rig.upstream.requests.map(r => r.headers['idempotency-key'])).toEqual([
      'order-17',
      'order-17',
    ]);

    rig.upstream.reset();
    rig.upstream.enqueue({ status: 503 });
    const plainPost = await client.call({ url: `${rig.url}/orders`, method: 'POST' });
    expect(plainPost.status).toBe(503);
    expect(rig.upstream.requests).toHaveLength(1);
  });

  it('honours Retry-After, and the shared cooldown turns other callers away with BALDUR_COOLDOWN', async () => {
    const { rig, client } = await setUp(testPolicies());
    rig.upstream.enqueue({ status: 503, headers: { 'retry-after': '1' } });
    const first = client.call({ url: `${rig.url}/slow` });
    await until(() => rig.upstream.requests.length === 1);
    await sleep(150); // the 503 reaches the app and installs the cooldown
    const connections = rig.proxy.connections;
    const other = await client.call({ url: `${rig.url}/other` });
    expect(other.error).toMatchObject({ code: 'BALDUR_COOLDOWN', name: 'CooldownError' });
    expect(other.error.retryAfterMs).toBeGreaterThan(0);
    expect(rig.proxy.connections).toBe(connections);
    const result = await first;
    expect(result.status).toBe(200);
    expect(result.elapsedMs).toBeGreaterThanOrEqual(900);
    expect(rig.upstream.requests.map(r => r.url)).toEqual(['/slow', '/slow']);
  });

  it('cuts a blackholed call at the attempt timeout (retried), and a hanging POST once', async () => {
    const { rig, client } = await setUp(
      testPolicies({
        timeout: '300ms',
        retry: { maxAttempts: 2, baseDelay: '10ms', jitter: 0, budget: false },
      }),
    );
    await rig.proxy.setMode('blackhole');
    const blackholed = await client.call({ url: `${rig.url}/void` });
    expect(blackholed.error).toMatchObject({ code: 'BALDUR_TIMEOUT', name: 'TimeoutError' });
    expect(blackholed.events.slice(-2)).toEqual(['error:BALDUR_TIMEOUT', 'close']);
    expect(rig.proxy.connections).toBe(2);

    await rig.proxy.setMode('pass');
    rig.upstream.behaviour = { hang: true };
    const hanging = await client.call({ url: `${rig.url}/hang`, method: 'POST', body: 'x' });
    expect(hanging.error?.code).toBe('BALDUR_TIMEOUT');
    expect(rig.upstream.requests).toHaveLength(1);
  });

  it('caps concurrency with a bulkhead (fail fast when full)', async () => {
    const { rig, client } = await setUp(
      testPolicies({ retry: false, bulkhead: { maxConcurrent: 2, maxQueue: 0 } }),
    );
    rig.upstream.behaviour = { status: 200, body: 'ok', delayMs: 300 };
    const results = await client.parallel([1, 2, 3, 4].map(i => ({ url: `${rig.url}/b${i}` })));
    const statuses = results.map(r => r.status ?? r.error?.code).sort();
    expect(statuses).toEqual([200, 200, 'BALDUR_BULKHEAD_FULL', 'BALDUR_BULKHEAD_FULL']);
    expect(rig.upstream.requests).toHaveLength(2);
  });

  it('counts a premature close mid-body as a failure', async () => {
    const { rig, client } = await setUp(
      testPolicies({
        retry: false,
        // A cut body is a late failure after a success at headers: the rate trigger sees both.
        circuitBreaker: {
          failureThreshold: 0,
          failureRateThreshold: 50,
          minimumCalls: 4,
          slidingWindowSize: 10,
          recoveryTimeout: '30s',
        },
      }),
    );
    rig.upstream.behaviour = { status: 200, body: 'partial', cutBody: true };
    for (let i = 0; i < 2; i++) {
      const cut = await client.call({ url: `${rig.url}/download` });
      expect(cut.status).toBe(200);
      expect(cut.events).toContain('res:aborted');
    }
    const rejected = await client.call({ url: `${rig.url}/download` });
    expect(rejected.error?.code).toBe('BALDUR_CIRCUIT_OPEN');
    expect(rig.upstream.requests).toHaveLength(2);
  });

  it('leaves 4xx alone and gives the caller the last response when retries run out', async () => {
    const { rig, client } = await setUp(
      testPolicies({ retry: { maxAttempts: 2, baseDelay: '5ms', jitter: 0, budget: false } }),
    );
    rig.upstream.enqueue({ status: 404, body: 'missing' });
    const missing = await client.call({ url: `${rig.url}/missing` });
    expect(missing).toMatchObject({ status: 404, body: 'missing' });
    expect(rig.upstream.requests).toHaveLength(1);

    rig.upstream.reset();
    rig.upstream.enqueue({ status: 500, body: 'first' });
    rig.upstream.enqueue({ status: 502, body: 'second' });
    const exhausted = await client.call({ url: `${rig.url}/down` });
    expect(exhausted).toMatchObject({ status: 502, body: 'second' });
    expect(rig.upstream.requests).toHaveLength(2);
  });
});
