-- deflow PostgreSQL schema: run control (docs/backends/step-machine.md#run-control). A workflow
-- may be paused: the status sits beside 'running' and nothing of it is claimed.
ALTER TABLE workflows DROP CONSTRAINT workflows_status_check;
ALTER TABLE workflows ADD CONSTRAINT workflows_status_check
  CHECK (status IN ('pending', 'running', 'paused', 'succeeded', 'failed', 'cancelled'));
