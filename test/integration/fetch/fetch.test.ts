import { afterEach, describe, expect, it } from 'vitest';
import { Client, sleep, startRig, testPolicies, until, type Rig } from '../http/harness';

/**
 * Node's built-in fetch and the npm undici package under the agent (the global
 * dispatcher), in real child processes (CommonJS and ESM), against an
 * HttpUpstream behind a FaultProxy.
 */
describe.each(['fetch-client.cjs', 'fetch-client.mjs'])('fetch / undici agent (%s)', app => {
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

  it('opens the breaker, fails fast the way each client reports failures, and recovers', async () => {
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
      expect(result.error).toMatchObject({ name: 'TypeError', message: 'fetch failed' });
    }
    expect(rig.proxy.connections).toBe(3);

    const viaFetch = await client.call({ url: `${rig.url}/x` });
    expect(viaFetch.error).toMatchObject({ name: 'TypeError', message: 'fetch failed' });
    expect(viaFetch.error.cause).toMatchObject({
      name: 'CircuitOpenError',
      code: 'BALDUR_CIRCUIT_OPEN',
      dependency: `http:127.0.0.1:${rig.proxy.address.port}`,
    });
    const viaUndici = await client.call({ op: 'undici', url: `${rig.url}/x` });
    expect(viaUndici.error).toMatchObject({
      name: 'CircuitOpenError',
      code: 'BALDUR_CIRCUIT_OPEN',
    });
    expect(viaUndici.error.retryAfterMs).toBeGreaterThan(0);
    expect(rig.proxy.connections).toBe(3);

    await rig.proxy.setMode('pass');
    await sleep(1600);
    expect((await client.call({ url: `${rig.url}/probe` })).status).toBe(200);
    expect((await client.call({ op: 'undici', url: `${rig.url}/after` })).status).toBe(200);
    expect(rig.upstream.requests.map(r => r.url)).toEqual(['/probe', '/after']);
  });

  it('retries a GET on 503 and on ECONNRESET', async () => {
    const { rig, client } = await setUp(
      testPolicies({ retry: { maxAttempts: 3, baseDelay: '300ms', jitter: 0, budget: false } }),
    );
    rig.upstream.enqueue({ status: 503, body: 'busy' });
    const retried = await client.call({ url: `${rig.url}/a` });
    expect(retried).toMatchObject({ status: 200, body: 'ok' });
    expect(rig.upstream.requests).toHaveLength(2);

    rig.upstream.reset();
    rig.upstream.enqueue({ status: 503, body: 'busy' });
    const viaUndici = await client.call({ op: 'undici', url: `${rig.url}/u` });
    expect(viaUndici).toMatchObject({ status: 200, body: 'ok' });
    expect(rig.upstream.requests).toHaveLength(2);

    rig.upstream.reset();
    await rig.proxy.setMode('reset');
    const before = rig.proxy.connections;
    const pending = client.call({ url: `${rig.url}/b` });
    await until(() => rig.proxy.connections > before);
    await rig.proxy.setMode('pass');
    expect(await pending).toMatchObject({ status: 200, body: 'ok' });
    expect(rig.upstream.requests.map(r => r.url)).toEqual(['/b']);
  });

  it('never retries a streamed or non-idempotent body; replays a keyed string body', async () => {
    const { rig, client } = await setUp(
      testPolicies({ circuitBreaker: { failureThreshold: 100 } }),
    );
    rig.upstream.enqueue({ status: 503 });
    const post = await client.call({ url: `${rig.url}/orders`, method: 'POST', json: { n: 1 } });
    expect(post.status).toBe(503);
    expect(rig.upstream.requests).toHaveLength(1);

    // fetch hands the dispatcher a stream for any body: a PUT with a body is not replayed.
    rig.upstream.reset();
    rig.upstream.enqueue({ status: 503 });
    const put = await client.call({ url: `${rig.url}/doc`, method: 'PUT', body: 'v1' });
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

    // undici.request with a string body: replayable, so a keyed POST is retried with the same body.
    rig.upstream.reset();
    rig.upstream.enqueue({ status: 503 });
    const replayed = await client.call({
      op: 'undici',
      url: `${rig.url}/orders`,
      method: 'POST',
      body: '{"n":2}',
      headers: { 'idempotency-key': 'order-18', 'content-type': 'application/json' },
    });
    expect(replayed.status).toBe(200);
    expect(rig.upstream.requests.map(r => r.body)).toEqual(['{"n":2}', '{"n":2}']);

    rig.upstream.reset();
    rig.upstream.enqueue({ status: 503 });
    const unkeyed = await client.call({
      op: 'undici',
      url: `${rig.url}/orders`,
      method: 'POST',
      body: 'x',
    });
    expect(unkeyed.status).toBe(503);
    expect(rig.upstream.requests).toHaveLength(1);
  });

  it('honours Retry-After, and the shared cooldown rejects other callers with BALDUR_COOLDOWN', async () => {
    const { rig, client } = await setUp(testPolicies());
    rig.upstream.enqueue({ status: 429, headers: { 'retry-after': '1' } });
    const first = client.call({ url: `${rig.url}/slow` });
    await until(() => rig.upstream.requests.length === 1);
    await sleep(150);
    const connections = rig.proxy.connections;
    const other = await client.call({ url: `${rig.url}/other` });
    expect(other.error?.cause).toMatchObject({ code: 'BALDUR_COOLDOWN', name: 'CooldownError' });
    const otherUndici = await client.call({ op: 'undici', url: `${rig.url}/other` });
    expect(otherUndici.error).toMatchObject({ code: 'BALDUR_COOLDOWN' });
    expect(otherUndici.error.retryAfterMs).toBeGreaterThan(0);
    expect(rig.proxy.connections).toBe(connections);
    const result = await first;
    expect(result).toMatchObject({ status: 200, body: 'ok' });
    expect(result.elapsedMs).toBeGreaterThanOrEqual(900);
    expect(rig.upstream.requests.map(r => r.url)).toEqual(['/slow', '/slow']);
  });

  it('delivers a 5xx as a normal response once retries are exhausted', async () => {
    const { rig, client } = await setUp(
      testPolicies({ retry: { maxAttempts: 2, baseDelay: '5ms', jitter: 0, budget: false } }),
    );
    rig.upstream.behaviour = { status: 500, body: 'broken' };
    const result = await client.call({ url: `${rig.url}/down` });
    expect(result).toMatchObject({ status: 500, body: 'broken' });
    expect(rig.upstream.requests).toHaveLength(2);
    const notFound = await client.call({ op: 'undici', url: `${rig.url}/none` });
    expect(notFound.status).toBe(500);
  });

  it('cuts a blackholed call at the attempt timeout', async () => {
    const { rig, client } = await setUp(
      testPolicies({
        timeout: '300ms',
        retry: { maxAttempts: 2, baseDelay: '10ms', jitter: 0, budget: false },
        circuitBreaker: { failureThreshold: 100 },
      }),
    );
    await rig.proxy.setMode('blackhole');
    const viaFetch = await client.call({ url: `${rig.url}/void` });
    expect(viaFetch.error).toMatchObject({ name: 'TypeError', message: 'fetch failed' });
    expect(viaFetch.error.cause).toMatchObject({ code: 'BALDUR_TIMEOUT', name: 'TimeoutError' });
    const viaUndici = await client.call({ op: 'undici', url: `${rig.url}/void` });
    expect(viaUndici.error).toMatchObject({ code: 'BALDUR_TIMEOUT' });
    expect(rig.proxy.connections).toBeGreaterThanOrEqual(2);

    await rig.proxy.setMode('pass');
    rig.upstream.behaviour = { hang: true };
    const hanging = await client.call({ url: `${rig.url}/hang`, method: 'POST', body: 'x' });
    expect(hanging.error?.cause?.code).toBe('BALDUR_TIMEOUT');
    expect(rig.upstream.requests).toHaveLength(1);
  });

  it('caps concurrency with a bulkhead', async () => {
    const { rig, client } = await setUp(
      testPolicies({ retry: false, bulkhead: { maxConcurrent: 2, maxQueue: 0 } }),
    );
    rig.upstream.behaviour = { status: 200, body: 'ok', delayMs: 300 };
    const results = await client.parallel([1, 2, 3, 4].map(i => ({ url: `${rig.url}/b${i}` })));
    const outcomes = results.map(r => r.status ?? r.error?.cause?.code).sort();
    expect(outcomes).toEqual([200, 200, 'BALDUR_BULKHEAD_FULL', 'BALDUR_BULKHEAD_FULL']);
    expect(rig.upstream.requests).toHaveLength(2);
  });

  it('counts a premature close mid-body as a failure', async () => {
    const { rig, client } = await setUp(
      testPolicies({
        retry: false,
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
    const first = await client.call({ url: `${rig.url}/download` });
    expect(first.status).toBe(200);
    expect(first.bodyError).toBeDefined();
    const second = await client.call({ op: 'undici', url: `${rig.url}/download` });
    expect(second.status).toBe(200);
    expect(second.bodyError).toBeDefined();
    const rejected = await client.call({ url: `${rig.url}/download` });
    expect(rejected.error?.cause?.code).toBe('BALDUR_CIRCUIT_OPEN');
    expect(rig.upstream.requests).toHaveLength(2);
  });
});

describe.each([
  ['fetch-client.cjs', 'agent'],
  ['fetch-client.mjs', 'agent'],
  ['fetch-client.cjs', 'compose'],
])('an application-installed global dispatcher (%s, %s)', (app, kind) => {
  it('is wrapped too: retries happen once, the breaker still guards', async () => {
    const rig = await startRig(
      testPolicies({ retry: { maxAttempts: 2, baseDelay: '5ms', jitter: 0, budget: false } }),
    );
    const client = await Client.start(app, rig, { env: { GLOBAL_DISPATCHER: kind } });
    try {
      rig.upstream.enqueue({ status: 503 });
      expect(await client.call({ url: `${rig.url}/a` })).toMatchObject({ status: 200, body: 'ok' });
      expect(rig.upstream.requests).toHaveLength(2);
      rig.upstream.enqueue({ status: 503 });
      expect(await client.call({ op: 'undici', url: `${rig.url}/b` })).toMatchObject({
        status: 200,
      });
      expect(rig.upstream.requests).toHaveLength(4);
      await rig.proxy.setMode('reset');
      await client.call({ url: `${rig.url}/c` });
      await client.call({ url: `${rig.url}/c` });
      const connections = rig.proxy.connections;
      const rejected = await client.call({ url: `${rig.url}/c` });
      expect(rejected.error?.cause?.code).toBe('BALDUR_CIRCUIT_OPEN');
      expect(rig.proxy.connections).toBe(connections);
    } finally {
      await client.stop();
      await rig.stop();
    }
  });
});
