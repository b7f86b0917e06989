/**
 * A DAG with a branch, a join and a failure branch:
 *
 *   validate ──> charge ──┬──> receipts ──┐
 *                         └──> stock ─────┴──> summary
 *                charge fails ──> refund-alert   (when: 'failure')
 *
 *   npx deflow run examples/dag/workflow.ts          # succeeds
 *   FAIL=1 npx deflow run examples/dag/workflow.ts   # a declined card: refund-alert runs, receipts/stock/summary are skipped
 */
import { WorkFlow } from 'deflow';
import charge from './steps/charge.js';
import type { Order } from './steps/charge.js';
import notify from './steps/notify.js';

const orders: Order[] = [
  { id: 'A-1', amount: 20 },
  { id: 'A-2', amount: 75 },
  { id: 'A-3', amount: process.env.FAIL === '1' ? 900 : 120 },
];

export default WorkFlow.create('orders')
  .addStep({ name: 'validate', step: notify, data: { channel: 'audit' }, tasks: orders.map((o) => `validated ${o.id}`) })
  .addStep({ name: 'charge', step: charge, tasks: orders })
  .addStep({ name: 'receipts', step: notify, data: { channel: 'email' }, tasks: orders.map((o) => `receipt ${o.id}`), dependsOn: ['charge'] })
  .addStep({ name: 'stock', step: notify, data: { channel: 'warehouse' }, tasks: orders.map((o) => `ship ${o.id}`), dependsOn: ['charge'] })
  .addStep({ name: 'summary', step: notify, data: { channel: 'slack' }, tasks: ['all orders done'], dependsOn: ['receipts', 'stock'] })
  .addStep({ name: 'refund-alert', step: notify, data: { channel: 'pager' }, tasks: ['a charge failed'], dependsOn: ['charge'], when: 'failure' });
