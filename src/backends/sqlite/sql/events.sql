-- Queries on the events workflows receive (step.emit, workflow.signal, DeFlow.emit).

-- name: insertWorkflowEvent
INSERT INTO workflow_events (workflow_id, id, name, data, at) VALUES (@workflowId, @id, @name, @data, @now)
ON CONFLICT (workflow_id, id) DO NOTHING;

-- name: eventArrived
SELECT 1 AS ok FROM workflow_events WHERE workflow_id = ? AND name = ? LIMIT 1;

-- name: eventsOfWorkflow
SELECT id, name, data, at FROM workflow_events WHERE workflow_id = ? ORDER BY seq;

-- name: awaitingSteps
-- Steps held back only by their events (their dependencies are done).
SELECT pk, wait_for FROM steps WHERE workflow_id = ? AND wait_since IS NOT NULL;

-- name: holdForEvents
UPDATE steps SET wait_since = @now, wait_due = CASE WHEN wait_timeout IS NULL THEN NULL ELSE @now + wait_timeout END
WHERE pk = @pk AND wait_since IS NULL;

-- name: dueWaits
SELECT pk FROM steps WHERE wait_due <= ? ORDER BY wait_due LIMIT ?;

-- name: nextWaitDue
SELECT MIN(wait_due) AS next FROM steps WHERE wait_due IS NOT NULL;

-- name: openWorkflowIds
-- The targets of a global event.
SELECT id FROM workflows WHERE status IN ('pending', 'running') ORDER BY created_at;

-- name: openWorkflowIdsByKey
-- The targets of a global event routed by business key: the workflows_by_key index finds them.
SELECT id FROM workflows WHERE business_key = ? AND status IN ('pending', 'running') ORDER BY created_at;

-- name: deleteEventsOfWorkflow
DELETE FROM workflow_events WHERE workflow_id = ?;
