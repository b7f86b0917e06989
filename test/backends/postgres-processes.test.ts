import { runProcessConformance } from '../conformance/index.js';
import { postgresUnderTest } from '../helpers/postgres.js';

runProcessConformance(postgresUnderTest());
