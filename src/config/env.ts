import { ENV_PREFIX, ENV_VARS } from '../names/env-vars';

export type Environment = Readonly<Record<string, string | undefined>>;

export interface EnvLayer {
  /** Nested config values (still strings; the schema coerces and validates them). */
  readonly values: Record<string, unknown>;
  /** Config path → the variable that set it, for error messages. */
  readonly sources: Map<string, string>;
  /** Unknown `BALDUR_*` names (likely typos). */
  readonly unknown: string[];
}

const KNOWN = new Set(ENV_VARS.map(d => d.name));

/** Translate `BALDUR_*` variables into a config layer. Empty values count as unset. */
export function configFromEnv(env: Environment): EnvLayer {
  const values: Record<string, unknown> = {};
  const sources = new Map<string, string>();
  for (const definition of ENV_VARS) {
    const raw = env[definition.name];
    if (definition.path === undefined || raw === undefined || raw.trim() === '') continue;
    setPath(values, definition.path, raw.trim());
    sources.set(definition.path, `env ${definition.name}`);
  }
  const unknown = Object.keys(env).filter(name => name.startsWith(ENV_PREFIX) && !KNOWN.has(name));
  return { values, sources, unknown };
}

export function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let node = target;
  for (const key of keys.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[keys[keys.length - 1]!] = value;
}
