import { runConformance } from '../conformance/index.js';
import { sqliteUnderTest } from '../helpers/backends.js';

runConformance(sqliteUnderTest());
