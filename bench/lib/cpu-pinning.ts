import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';

let pinnable: boolean | undefined;

/**
 * Whether processes can be pinned to a CPU: `taskset` (util-linux) is there
 * and the machine has at least two. Left to the scheduler, a load generator
 * and its server on two cores keep trading places, which adds its own spread
 * to a closed-loop throughput figure; pinned, what remains is the noise of the
 * machine itself (other tenants of a VM), which medians and best rounds absorb.
 */
export function canPin(): boolean {
  if (pinnable === undefined) {
    pinnable =
      availableParallelism() >= 2 && spawnSync('taskset', ['-V'], { stdio: 'ignore' }).status === 0;
  }
  return pinnable;
}

/** The command and arguments that run `argv` (a program and its arguments) on `cpu`, pinned when possible. */
export function onCpu(
  cpu: number | undefined,
  argv: readonly string[],
): { command: string; args: string[] } {
  if (cpu === undefined || !canPin()) return { command: argv[0]!, args: argv.slice(1) };
  return { command: 'taskset', args: ['-c', String(cpu), ...argv] };
}
