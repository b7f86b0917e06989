-- deflow PostgreSQL schema, version 2: structured failure records (docs/backends/step-machine.md).

-- The stage a failed step failed in: its failure record, and the workflow's, carry it.
ALTER TABLE steps ADD COLUMN failed_stage text;

-- Workflows stored before the api resolved keepMs get it as it was decided then (cleanOnDone:
-- a 5 s grace, else retentionMs), so the step machine only ever reads keepMs.
UPDATE workflows
SET options = options || jsonb_build_object('keepMs',
  CASE WHEN (options->>'cleanOnDone')::boolean THEN to_jsonb(5000) ELSE coalesce(options->'retentionMs', 'null'::jsonb) END)
WHERE NOT options ? 'keepMs';
