import { runProcessConformance } from '../conformance/index.js';
import { sqliteUnderTest } from '../helpers/backends.js';

runProcessConformance(sqliteUnderTest());
