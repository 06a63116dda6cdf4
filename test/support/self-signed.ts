import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export interface CertificateFiles {
  readonly key: string;
  readonly cert: string;
}

/**
 * A throwaway self-signed certificate for 127.0.0.1 (RSA 2048, two days),
 * written to `dir` as `key.pem` and `cert.pem` by openssl. `undefined` when
 * openssl is not installed: callers skip their https cases with one line.
 */
export function selfSignedCertificate(dir: string): CertificateFiles | undefined {
  const files = { key: join(dir, 'key.pem'), cert: join(dir, 'cert.pem') };
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '2',
        '-subj',
        '/CN=127.0.0.1',
        '-keyout',
        files.key,
        '-out',
        files.cert,
      ],
      { stdio: 'ignore' },
    );
  } catch {
    return undefined;
  }
  return files;
}
