import { runConformance } from '../conformance/index.js';
import { redisUnderTest } from '../helpers/redis.js';

runConformance(redisUnderTest());
