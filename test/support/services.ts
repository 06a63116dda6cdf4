import { connect } from 'node:net';

/**
 * Integration suites need real servers. When one does not answer, the suite is
 * skipped with one clear line — except under `CI=true`, where a missing service
 * fails the run, so CI can never go green by skipping.
 */
export const SERVICES = {
  postgres: { host: '127.0.0.1', port: 5432 },
  mysql: { host: '127.0.0.1', port: 3306 },
  redis: { host: '127.0.0.1', port: 6379 },
} as const;

export type ServiceName = keyof typeof SERVICES;

export function reachable(host: string, port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise(resolve => {
    const socket = connect({ host, port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Resolves to whether the suite may run. Call at module top level:
 * `const hasRedis = await serviceAvailable('redis'); describe.runIf(hasRedis)(…)`.
 */
export async function serviceAvailable(name: ServiceName): Promise<boolean> {
  const { host, port } = SERVICES[name];
  if (await reachable(host, port)) return true;
  const message = `${name} is not reachable on ${host}:${port}`;
  if (process.env.CI === 'true')
    throw new Error(`${message} (CI=true: integration services are required)`);
  console.warn(
    `[skip] ${message}; skipping its integration suite (set CI=true to make this a failure)`,
  );
  return false;
}
