import { runConformance } from '../conformance/index.js';
import { postgresUnderTest } from '../helpers/postgres.js';

runConformance(postgresUnderTest());
