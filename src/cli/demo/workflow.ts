/** Builds the demo workflow: a branch (thumbnails, index) and a join (report). */
import { WorkFlow } from '../../index.js';
import { fetchPages, indexPages, makeThumbnails, writeReport } from './steps.js';

export function demoWorkflow(pages: number): WorkFlow {
  return WorkFlow.create('demo-crawl')
    .addStep({ name: 'fetch', step: fetchPages, data: { pages } })
    .addStep({ name: 'thumbnails', step: makeThumbnails, dependsOn: ['fetch'] })
    .addStep({ name: 'index', step: indexPages, dependsOn: ['fetch'] })
    .addStep({ name: 'report', step: writeReport, tasks: ['summary'], dependsOn: ['thumbnails', 'index'] });
}
