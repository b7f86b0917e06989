/**
 *   npx deflow run examples/invoices/workflow.ts
 * or, with workers in other terminals:
 *   npx deflow worker --steps examples/invoices/steps
 *   npx deflow run --no-worker examples/invoices/workflow.ts
 */
import { WorkFlow } from 'deflow';
import sendInvoices from './steps/send-invoices.js';

export default WorkFlow.create('invoices').addStep({ step: sendInvoices, data: { date: '2026-11-22' } });
