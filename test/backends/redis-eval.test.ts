// The conformance suite again with every script sent as EVAL (the fallback for Redis < 7,
// whose servers have no Functions): both ways of loading the same Lua must behave alike.
import { runConformance } from '../conformance/index.js';
import { redisUnderTest } from '../helpers/redis.js';

process.env.DEFLOW_REDIS_SCRIPTS = 'eval';

runConformance(redisUnderTest());
