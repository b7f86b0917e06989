import { runProcessConformance } from '../conformance/index.js';
import { redisUnderTest } from '../helpers/redis.js';

runProcessConformance(redisUnderTest());
