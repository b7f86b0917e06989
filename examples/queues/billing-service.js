// billing-service.js — the billing service: a node serving the queue 'billing' only, with the
// billing step modules. (In production: deflow worker --steps billing-steps --queues billing.)
import DeFlow from 'deflow';
import './billing-steps/charge-card.js';

await DeFlow.register({ queues: ['billing'] }).ready();
process.send?.('ready');
process.once('SIGTERM', () => void DeFlow.unregister().then(() => process.exit(0)));
