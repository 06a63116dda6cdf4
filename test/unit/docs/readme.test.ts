import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ENV_VARS } from '../../../src/names/env-vars';
import { ERROR_CODES } from '../../../src/names/error-codes';
import { METRIC_LIST } from '../../../src/names/metrics';
import { updateReadme } from '../../support/reference';

const README = join(__dirname, '../../../README.md');

describe('README reference tables', () => {
  it('match the registries (run `npm run docs` to regenerate)', () => {
    const readme = readFileSync(README, 'utf8');
    const expected = updateReadme(readme);
    if (process.env.UPDATE_README === '1' && expected !== readme) writeFileSync(README, expected);
    else expect(readme).toBe(expected);
  });

  it('name every error code, environment variable and metric', () => {
    const readme = readFileSync(README, 'utf8');
    for (const code of Object.values(ERROR_CODES)) expect(readme).toContain(`\`${code}\``);
    for (const variable of ENV_VARS) expect(readme).toContain(`\`${variable.name}\``);
    for (const metric of METRIC_LIST) expect(readme).toContain(`\`${metric.name}\``);
  });
});
