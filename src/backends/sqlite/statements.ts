/** Prepares every named query of `sql/*.sql` once per connection. */
import type { Statement } from 'better-sqlite3';
import { fileURLToPath } from 'node:url';
import { loadNamedQueries } from '../sql-files.js';
import type { SqliteDatabase } from './connection.js';

const QUERY_NAMES = [
  // workflows.sql
  'insertWorkflow',
  'getWorkflow',
  'idsByNameExcept',
  'addOpenSteps',
  'nextRunIndex',
  'markWorkflowRunning',
  'finishWorkflow',
  'firstUnhandledFailure',
  'watchNextTask',
  'listWorkflows',
  'listWorkflowsByKey',
  'expiredWorkflows',
  'deleteLeasesOfWorkflow',
  'deleteBatchesOfWorkflow',
  'deleteEdgesOfWorkflow',
  'deleteStepsOfWorkflow',
  'deleteWorkflow',
  'reopenWorkflow',
  'setWorkflowStatus',
  'cancelWorkflow',
  'runningStepsOfWorkflow',
  // steps.sql
  'insertStep',
  'insertEdge',
  'stepByPk',
  'stepById',
  'stepsOfWorkflow',
  'nextDeclIndex',
  'setStage',
  'setReadyAt',
  'dueTimers',
  'nextTimerAt',
  'dropTimersOfWorkflow',
  'timersOfWorkflow',
  'startStep',
  'setRunIndex',
  'finishStep',
  'addCounts',
  'reserveTaskSeq',
  'reserveChildSeq',
  'childrenOf',
  'waitingChildrenOf',
  'dependentsOf',
  'parentsOf',
  'runnableSteps',
  'batchApplied',
  'stepPksOfWorkflow',
  'resetStepFresh',
  'resumeStep',
  'allChildrenOf',
  // jobs.sql
  'insertJob',
  'claimHook',
  'claimRequeued',
  'setBucket',
  'leasedInRange',
  'leasedInBucket',
  'requeuedCandidates',
  'freshCandidates',
  'leaseAlone',
  'freshRange',
  'insertLease',
  'leaseById',
  'setLeaseSettled',
  'insertRangeResults',
  'rangeResultsNear',
  'advanceCursor',
  'succeedFresh',
  'succeedLeased',
  'failFresh',
  'failLeased',
  'retryFresh',
  'retryLeased',
  'loseFreshAgain',
  'loseFreshForGood',
  'loseLeasedAgain',
  'loseLeasedForGood',
  'insertJobs64',
  'releaseJob',
  'releaseLeasedAloneBy',
  'leasedAloneBy',
  'rangesOf',
  'deleteLease',
  'deleteLeasesOfStep',
  'hookJob',
  'nextRunAt',
  'tasksPage',
  'orphanedAlone',
  'orphanedRanges',
  'deleteJobsOfStep',
  'deleteRangeResultsOfStep',
  'resetJobsFresh',
  'requeueUnfinishedJobs',
  'resetJob',
  'releaseLeasedAloneOfStep',
  'rangesOfStep',
  // events.sql
  'insertWorkflowEvent',
  'eventArrived',
  'eventsOfWorkflow',
  'awaitingSteps',
  'holdForEvents',
  'dueWaits',
  'nextWaitDue',
  'openWorkflowIds',
  'openWorkflowIdsByKey',
  'deleteEventsOfWorkflow',
  // rate-limits.sql
  'setRateLimit',
  'listRateLimits',
  'deleteRateLimit',
  'deleteRateStarts',
  'rateLimitByName',
  'pruneRateStarts',
  'rateWindow',
  'logRateStarts',
  'nextRateStart',
  // schedules.sql
  'saveSchedule',
  'scheduleExists',
  'listSchedules',
  'deleteSchedule',
  'claimScheduleTick',
  // nodes.sql
  'registerNode',
  'heartbeat',
  'deleteNode',
  'deleteExpiredNodes',
  'nodeExists',
  'listNodes',
  'insertEvent',
  'eventsAfter',
  'lastEventId',
  'pruneEvents',
] as const;

export type QueryName = (typeof QUERY_NAMES)[number];
export type Statements = { readonly [K in QueryName]: Statement };

const SQL_DIR = fileURLToPath(new URL('./sql/', import.meta.url));

export function prepareStatements(db: SqliteDatabase): Statements {
  const sql = loadNamedQueries(SQL_DIR);
  const prepared: Partial<Record<QueryName, Statement>> = {};
  for (const name of QUERY_NAMES) {
    const text = sql[name];
    if (text === undefined) throw new Error(`SQL query "${name}" is missing from ${SQL_DIR}`);
    prepared[name] = db.prepare(text);
  }
  // Rows as arrays, two to three times quicker to read than objects: the claim hot path and
  // result pages build their own records.
  prepared.freshRange?.raw(true);
  prepared.tasksPage?.raw(true);
  return prepared as Statements;
}
