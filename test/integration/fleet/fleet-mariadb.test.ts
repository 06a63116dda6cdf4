import { MARIADB } from './harness';
import { describeFleet } from './scenarios';

describeFleet(MARIADB, 'mysql');
