import { ERROR_CODES } from '../names/error-codes';
import type { ConfigIssue } from './schema-dsl';

/**
 * Invalid configuration. The message is one line that names each bad key, its
 * value, the accepted range and where the value came from; `issues` has the
 * same facts as data.
 */
export class ConfigError extends Error {
  readonly code = ERROR_CODES.CONFIG_INVALID;
  override readonly name = 'ConfigError';

  constructor(readonly issues: readonly ConfigIssue[]) {
    super(`Invalid Baldur configuration: ${issues.map(formatIssue).join('; ')}`);
  }
}

export function formatIssue(issue: ConfigIssue): string {
  return `${issue.path || '(root)'}: ${issue.problem}${issue.source === undefined ? '' : ` [${issue.source}]`}`;
}
