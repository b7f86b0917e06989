/**
 * The whole conformance suite on a real three-master Redis Cluster started for this file.
 * Skipped, saying why, only when this machine's redis-server cannot run one.
 */
import { afterAll, describe, it } from 'vitest';
import { runConformance } from '../conformance/index.js';
import { TestCluster, clusterUnsupported, redisClusterUnderTest } from '../helpers/redis-cluster.js';

const unsupported = clusterUnsupported();

if (unsupported === null) {
  const cluster = new TestCluster();
  afterAll(() => cluster.stop());
  runConformance(redisClusterUnderTest(cluster));
} else {
  console.warn(`Redis Cluster conformance skipped: ${unsupported}`);
  describe(`conformance: redis-cluster (skipped: ${unsupported})`, () => {
    it.skip(`needs a redis-server that runs a cluster: ${unsupported}`, () => undefined);
  });
}
