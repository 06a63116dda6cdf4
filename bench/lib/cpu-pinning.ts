import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';

let pinnable: boolean | undefined;

/**
 * Whether processes can be pinned to a CPU: `taskset` (util-linux) is there
 * and the machine has at least two. Left to the scheduler, a load generator
 * and its server on two cores keep trading places, and the run-to-run spread
 * of a closed-loop throughput figure grows to ±10 % — more than the effects
 * measured. Pinned, it stays within a few percent.
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

/** How the figures were taken, for the report. */
export function pinningNote(): string {
  return canPin()
    ? 'Load generator pinned to CPU 0, HTTP server to CPU 1 (taskset)'
    : 'Not pinned (taskset or a second CPU missing): expect a wider spread';
}
