/**
 * An order that waits for events: it closes once the payment settled AND the parcel was
 * delivered, whichever comes first; if they do not both arrive in time, an escalation runs.
 *
 *   place-order ──┬──> payment   ··· emits payment.settled ···┐
 *                 └──> courier   ··· emits parcel.delivered ··┤
 *                                                             v
 *                      close-order (waitFor both, waitTimeout 1.5 s)
 *                      close-order times out ──> escalate   (when: 'failure')
 *
 *   npx deflow run examples/order-events/workflow.ts          # closes the order
 *   LOST=1 npx deflow run examples/order-events/workflow.ts   # the parcel is never reported: escalate runs
 *
 * In a real system the events come from outside, from any process holding a handle:
 *   await (await WorkFlow.getById(id)).signal('payment.settled', { amount: 120 }, { id: webhookId });
 * or, without a handle, DeFlow.signal(id, 'parcel.delivered', ...).
 */
import { WorkFlow } from 'deflow';
import announce from './steps/announce.js';
import closeOrder from './steps/close-order.js';

export default WorkFlow.create('order-events')
  .addStep({ name: 'place-order', step: announce, data: { event: 'order.placed' }, tasks: [{ order: 'A-1' }] })
  .addStep({ name: 'payment', step: announce, data: { event: 'payment.settled' }, tasks: [{ amount: 120 }], dependsOn: ['place-order'] })
  .addStep({
    name: 'courier',
    step: announce,
    data: { event: 'parcel.delivered', silent: process.env.LOST === '1' },
    tasks: [{ signedBy: 'J. Doe' }],
    dependsOn: ['place-order'],
  })
  .addStep({
    name: 'close-order',
    step: closeOrder,
    tasks: ['order A-1'],
    dependsOn: ['place-order'],
    waitFor: ['payment.settled', 'parcel.delivered'],
    waitTimeout: 1_500,
  })
  .addStep({ name: 'escalate', step: announce, data: { event: 'order.stuck' }, tasks: [{ order: 'A-1' }], dependsOn: ['close-order'], when: 'failure' });
