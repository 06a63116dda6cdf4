import { existsSync, readFileSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import type * as Yaml from 'yaml';
import { ConfigError } from './config-error';

export const DEFAULT_CONFIG_FILES = [
  'baldur.config.yaml',
  'baldur.config.yml',
  'baldur.config.json',
] as const;

/** `BALDUR_CONFIG_FILE` if set (it must exist), else the first default file present in `cwd`. */
export function findConfigFile(explicit: string | undefined, cwd: string): string | undefined {
  if (explicit !== undefined && explicit !== '') {
    const path = resolve(cwd, explicit);
    if (!existsSync(path)) {
      throw new ConfigError([
        {
          path: 'BALDUR_CONFIG_FILE',
          value: explicit,
          problem: `file ${JSON.stringify(path)} does not exist`,
          source: 'env BALDUR_CONFIG_FILE',
        },
      ]);
    }
    return path;
  }
  for (const name of DEFAULT_CONFIG_FILES) {
    const path = resolve(cwd, name);
    if (existsSync(path)) return path;
  }
  return undefined;
}

/** Read and parse a YAML or JSON config file; syntax errors name the file, line and column. */
export function readConfigFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError([
      {
        path: '(file)',
        value: path,
        problem: `cannot read ${path}: ${(error as Error).message}`,
        source: undefined,
      },
    ]);
  }
  if (extname(path) === '.json') return parseJson(text, path);
  // Loaded only when a YAML file exists: the preload should not pay for a parser it does not use.
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- deliberately lazy
  const { parse: parseYaml, YAMLParseError } = require('yaml') as typeof Yaml;
  try {
    return parseYaml(text, { prettyErrors: true }) as unknown;
  } catch (error) {
    const where =
      error instanceof YAMLParseError && error.linePos !== undefined
        ? ` at line ${error.linePos[0].line}, column ${error.linePos[0].col}`
        : '';
    // The yaml library repeats the position (and a code excerpt) in its message; keep the reason only.
    const reason = (error as Error).message
      .split('\n')[0]!
      .replace(/ at line \d+, column \d+:$/, '');
    throw parseError(path, where, reason);
  }
}

function parseJson(text: string, path: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    // V8 reports a character offset; people look for lines.
    const message = (error as Error).message;
    const position = /at position (\d+)/.exec(message);
    let where = '';
    if (position !== null) {
      const before = text.slice(0, Number(position[1]));
      const line = before.split('\n').length;
      where = ` at line ${line}, column ${before.length - before.lastIndexOf('\n')}`;
    }
    throw parseError(path, where, message.replace(/ in JSON at position \d+.*$/, ''));
  }
}

function parseError(path: string, where: string, reason: string): ConfigError {
  return new ConfigError([
    {
      path: '(file)',
      value: path,
      problem: `cannot parse ${path}${where}: ${reason}`,
      source: undefined,
    },
  ]);
}
