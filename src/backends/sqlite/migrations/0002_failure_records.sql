-- deflow embedded schema, version 2: structured failure records (docs/backends/step-machine.md).

-- The stage a failed step failed in: its failure record, and the workflow's, carry it.
ALTER TABLE steps ADD COLUMN failed_stage TEXT;

-- Workflows stored before the api resolved keepMs get it as it was decided then (cleanOnDone:
-- a 5 s grace, else retentionMs), so the machine only ever reads keepMs.
UPDATE workflows
SET options = json_set(options, '$.keepMs',
  CASE WHEN json_extract(options, '$.cleanOnDone') THEN 5000 ELSE json_extract(options, '$.retentionMs') END)
WHERE json_type(options, '$.keepMs') IS NULL;
