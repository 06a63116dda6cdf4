import { fetchInstrumentation } from './fetch';
import { httpInstrumentation } from './http';
import { ioredisInstrumentation } from './ioredis';
import { mysql2Instrumentation } from './mysql2';
import { pgInstrumentation } from './pg';
import type { Instrumentation } from './shared/types';

/** Every client the agent can protect, selected by `BALDUR_INSTRUMENTATIONS`. */
export const INSTRUMENTATIONS: readonly Instrumentation[] = [
  httpInstrumentation,
  fetchInstrumentation,
  pgInstrumentation,
  mysql2Instrumentation,
  ioredisInstrumentation,
];

export type { AgentContext, Instrumentation, ModulePatch } from './shared/types';
