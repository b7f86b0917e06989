/** GET /api/workflows/:id: the workflow with its steps, their progress and errors. */
import { notFound } from '../http-errors.js';
import { defineRoute } from '../route.js';
import { errorSchema, errorView, stepSchema, stepView, workflowSchema, workflowView } from '../views.js';

export default defineRoute<{ id: string }>({
  method: 'GET',
  url: '/api/workflows/:id',
  summary: 'A workflow, its steps (DAG edges in deps), progress and errors',
  schema: {
    params: { type: 'object', properties: { id: { type: 'string', minLength: 1, maxLength: 1000 } }, required: ['id'] },
    response: {
      200: {
        type: 'object',
        properties: {
          workflow: workflowSchema,
          steps: { type: 'array', items: stepSchema },
          progress: {
            type: 'object',
            properties: {
              steps: { type: 'object', properties: { total: { type: 'integer' }, finished: { type: 'integer' } } },
              tasks: { type: 'object', properties: { total: { type: 'integer' }, done: { type: 'integer' }, failed: { type: 'integer' } } },
            },
          },
          errors: { type: 'array', items: { type: 'object', properties: { stepId: { type: ['string', 'null'] }, error: errorSchema } } },
        },
      },
    },
  },
  async handler({ params }, { backend }) {
    const [workflow, steps] = await Promise.all([backend.getWorkflow(params.id), backend.getSteps(params.id)]);
    if (workflow === null) throw notFound(`no workflow ${JSON.stringify(params.id)}`);
    const finished = steps.filter((step) => step.status !== 'waiting' && step.status !== 'running').length;
    const tasks = steps.reduce((sum, step) => ({ total: sum.total + step.counts.total, done: sum.done + step.counts.done, failed: sum.failed + step.counts.failed }), { total: 0, done: 0, failed: 0 });
    const errors = [
      ...(workflow.error === null ? [] : [{ stepId: null, error: errorView(workflow.error) }]),
      ...steps.filter((step) => step.error !== null).map((step) => ({ stepId: step.id, error: errorView(step.error) })),
    ];
    return { workflow: workflowView(workflow), steps: steps.map(stepView), progress: { steps: { total: steps.length, finished }, tasks }, errors };
  },
});
