import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runApp } from '../../support/run-app';
import { selfSignedCertificate } from '../../support/self-signed';

/**
 * On the happy path the agent must be invisible: the same scenario (node:http
 * callback and event styles, a streamed request and response body, http.get,
 * 404, the caller's own timeout, abort and AbortSignal, connection refused,
 * https to a local self-signed server, fetch with a JSON body, fetch timeouts,
 * undici.request) prints identical observations with and without it.
 */
let dir: string;
let tls: Record<string, string> = {};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'baldur-tls-'));
  const files = selfSignedCertificate(dir);
  if (files !== undefined) tls = { SCENARIO_TLS_KEY: files.key, SCENARIO_TLS_CERT: files.cert };
  else
    console.warn('[skip] openssl is not available: the transparency scenario runs without https');
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.each([
  ['apps/http-scenario.cjs', 'require'],
  ['apps/http-scenario.mjs', 'import'],
] as const)('transparency (%s)', (app, preload) => {
  it('prints the same observations with and without the agent', async () => {
    const env = { ...tls, BALDUR_OTEL_SDK: 'off' };
    const [plain, agent] = await Promise.all([
      runApp({ app, preload: 'none', env }),
      runApp({ app, preload, env }),
    ]);
    expect(plain.code).toBe(0);
    expect(agent.code).toBe(0);
    expect(agent.stderr).toBe('');
    const labels = plain.messages.map(m => m.label);
    expect(labels).toContain('post-event');
    expect(labels).toContain('undici');
    if (tls.SCENARIO_TLS_KEY !== undefined) expect(labels).toContain('https');
    expect(agent.stdout).toBe(plain.stdout);
  });
});
