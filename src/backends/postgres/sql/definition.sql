-- Defining work. Each query is one call of an entry function (functions/03_definition.sql).

-- name: createWorkflow
-- ($1 id, $2 name, $3 options, $4 watchNextTask, $5 replaceByName,
--  $6..$11 steps as parallel arrays, $12 task counts per step, $13 tasks of every step, in order,
--  $14 their concurrency buckets (empty when no step has concurrencyKey))
SELECT created, events, pg_backend_pid() AS pid FROM create_workflow(
  $1, $2, $3::jsonb, $4, $5,
  $6::text[], $7::text[], $8::jsonb[], $9::text[], $10::jsonb[], $11::jsonb[], $12::integer[], $13::text[], $14::text[]
);

-- name: addAnchoredSteps
-- ($1 workflow id, $2 anchor step id, $3 phase, $4..$9 steps as parallel arrays, $10 task counts, $11 tasks, $12 buckets)
SELECT add_anchored_steps(
  $1, $2, $3, $4::text[], $5::text[], $6::jsonb[], $7::text[], $8::jsonb[], $9::jsonb[], $10::integer[], $11::text[], $12::text[]
) AS added;

-- name: addTasks
-- ($1 workflow id, $2 step id, $3 tasks, $4 batch key or null, $5 buckets (empty without concurrencyKey))
SELECT added, total FROM add_tasks($1, $2, $3::text[], $4, $5::text[]);

-- name: watchNextTask
SELECT watch_next_task($1);
