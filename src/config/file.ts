import { existsSync, readFileSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
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
  try {
    if (extname(path) === '.json') return JSON.parse(text) as unknown;
    return parseYaml(text, { prettyErrors: true }) as unknown;
  } catch (error) {
    const where =
      error instanceof YAMLParseError && error.linePos !== undefined
        ? ` at line ${error.linePos[0].line}, column ${error.linePos[0].col}`
        : '';
    const reason = (error as Error).message.split('\n')[0];
    throw new ConfigError([
      {
        path: '(file)',
        value: path,
        problem: `cannot parse ${path}${where}: ${reason}`,
        source: undefined,
      },
    ]);
  }
}
