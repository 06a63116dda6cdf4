/**
 * The stored shape of a dead letter (codec version 1). Stored records are
 * validated on the way in: a record this version cannot read is reported and
 * left in place, never deleted or crashed on.
 */
export type DeadLetterStatus = 'pending' | 'replaying' | 'replayed' | 'failed';
export const DEAD_LETTER_STATUSES: readonly DeadLetterStatus[] = [
  'pending',
  'replaying',
  'replayed',
  'failed',
];

export interface DeadLetterEntry {
  readonly v: 1;
  readonly id: string;
  /** The protected function or dependency that failed. */
  readonly dependency: string;
  readonly createdAtWallMs: number;
  readonly status: DeadLetterStatus;
  /** `failure`: the call failed after all retries; `rejected`: Baldur turned it away. */
  readonly reason: 'failure' | 'rejected';
  readonly error: { readonly name: string; readonly message: string; readonly code?: string };
  /** The call's arguments (redacted), when they fit; replay passes them back. */
  readonly args: readonly unknown[] | undefined;
  /** A prefix of the serialized arguments when they did not fit; such entries are not replayable. */
  readonly argsPreview: string | undefined;
  readonly argsBytes: number;
  readonly replayAttempts: number;
  readonly lastReplayAtWallMs: number | undefined;
  readonly lastReplayError: string | undefined;
  /** Trace of the failed call, when one was active, to link replays to it. */
  readonly traceId: string | undefined;
  readonly spanId: string | undefined;
}

export class StoredRecordError extends Error {
  override readonly name = 'StoredRecordError';
}

export function encodeDeadLetter(entry: DeadLetterEntry): string {
  return JSON.stringify(entry);
}

export function decodeDeadLetter(text: string): DeadLetterEntry {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new StoredRecordError('dead letter is not valid JSON');
  }
  if (typeof raw !== 'object' || raw === null)
    throw new StoredRecordError('dead letter is not an object');
  const r = raw as Record<string, unknown>;
  if (r.v !== 1)
    throw new StoredRecordError(`dead letter has unknown codec version ${JSON.stringify(r.v)}`);
  const checks: [string, boolean][] = [
    ['id', typeof r.id === 'string'],
    ['dependency', typeof r.dependency === 'string'],
    ['createdAtWallMs', typeof r.createdAtWallMs === 'number'],
    ['status', DEAD_LETTER_STATUSES.includes(r.status as DeadLetterStatus)],
    ['reason', r.reason === 'failure' || r.reason === 'rejected'],
    ['error', typeof r.error === 'object' && r.error !== null],
    ['args', r.args === undefined || r.args === null || Array.isArray(r.args)],
    ['replayAttempts', typeof r.replayAttempts === 'number'],
  ];
  for (const [field, ok] of checks) {
    if (!ok) throw new StoredRecordError(`dead letter field "${field}" is missing or malformed`);
  }
  const error = r.error as Record<string, unknown>;
  return {
    v: 1,
    id: r.id as string,
    dependency: r.dependency as string,
    createdAtWallMs: r.createdAtWallMs as number,
    status: r.status as DeadLetterStatus,
    reason: r.reason as 'failure' | 'rejected',
    error: {
      name: typeof error.name === 'string' ? error.name : 'Error',
      message: typeof error.message === 'string' ? error.message : '',
      ...(typeof error.code === 'string' ? { code: error.code } : {}),
    },
    args: Array.isArray(r.args) ? (r.args as unknown[]) : undefined,
    argsPreview: typeof r.argsPreview === 'string' ? r.argsPreview : undefined,
    argsBytes: typeof r.argsBytes === 'number' ? r.argsBytes : 0,
    replayAttempts: r.replayAttempts as number,
    lastReplayAtWallMs: typeof r.lastReplayAtWallMs === 'number' ? r.lastReplayAtWallMs : undefined,
    lastReplayError: typeof r.lastReplayError === 'string' ? r.lastReplayError : undefined,
    traceId: typeof r.traceId === 'string' ? r.traceId : undefined,
    spanId: typeof r.spanId === 'string' ? r.spanId : undefined,
  };
}

export function describeError(error: unknown): DeadLetterEntry['error'] {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return {
      name: error.name,
      message: error.message.slice(0, 1000),
      ...(typeof code === 'string' ? { code } : {}),
    };
  }
  return { name: typeof error, message: String(error).slice(0, 1000) };
}
