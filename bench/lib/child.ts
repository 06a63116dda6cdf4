import { spawn } from 'node:child_process';
import { onCpu } from './cpu-pinning';

/**
 * Run one benchmark suite in a fresh Node process (clean heap, no JIT history
 * from other suites), with `env` added to this process's environment, and
 * parse the JSON it prints on its last stdout line. With `cpu`, the process is
 * pinned to that CPU where the machine allows it.
 */
export function runSuite<T>(
  script: string,
  args: readonly string[] = [],
  nodeArgs: readonly string[] = [],
  env: Readonly<Record<string, string>> = {},
  cpu?: number,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const { command, args: argv } = onCpu(cpu, [process.execPath, ...nodeArgs, script, ...args]);
    const child = spawn(command, argv, {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, ...env },
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('error', reject);
    child.on('exit', code => {
      if (code !== 0) return reject(new Error(`${script} exited with ${code}`));
      const last = out.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(last) as T);
      } catch {
        reject(new Error(`${script} printed no JSON result: ${last.slice(0, 200)}`));
      }
    });
  });
}
