/**
 * Socket-level error codes Node reports when a dependency cannot be reached or
 * the connection broke: every client counts them as failures, and a fresh
 * connection may well succeed, so they are worth another attempt where the
 * operation is safe to repeat.
 */
export const SOCKET_ERROR_CODES: readonly string[] = Object.freeze([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
]);
