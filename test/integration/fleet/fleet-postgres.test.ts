import { POSTGRES } from './harness';
import { describeFleet } from './scenarios';

describeFleet(POSTGRES, 'postgres');
