import { REDIS } from './harness';
import { describeFleet } from './scenarios';

describeFleet(REDIS, 'redis');
