-- Defining work. Each query is one call of an entry function (functions/03_definition.sql).

-- name: createWorkflow
-- ($1 id, $2 name, $3 business key or null, $4 options, $5 watchNextTask, $6 replaceByName,
--  $7..$12 steps as parallel arrays, $13 task counts per step, $14 tasks of every step, in order,
--  $15 delays (ms), $16 startAt (epoch ms or null) per step, $17 the tasks' concurrency buckets
--  (empty when no step has concurrencyKey), $18 their rate buckets (empty without a keyed rate limit))
SELECT created, events, pg_backend_pid() AS pid FROM create_workflow(
  $1, $2, $3, $4::jsonb, $5, $6,
  $7::text[], $8::text[], $9::jsonb[], $10::text[], $11::jsonb[], $12::jsonb[], $13::integer[], $14::text[],
  $15::bigint[], $16::bigint[], $17::text[], $18::text[]
);

-- name: addAnchoredSteps
-- ($1 workflow id, $2 anchor step id, $3 phase, $4..$9 steps as parallel arrays, $10 task counts, $11 tasks,
--  $12 delays (ms), $13 startAt (epoch ms or null), $14 buckets, $15 rate buckets)
SELECT add_anchored_steps(
  $1, $2, $3, $4::text[], $5::text[], $6::jsonb[], $7::text[], $8::jsonb[], $9::jsonb[], $10::integer[], $11::text[],
  $12::bigint[], $13::bigint[], $14::text[], $15::text[]
) AS added;

-- name: addTasks
-- ($1 workflow id, $2 step id, $3 tasks, $4 batch key or null, $5 buckets (empty without concurrencyKey),
--  $6 rate buckets (empty without a keyed rate limit), $7 delay ms (0: ready at once))
SELECT added, total FROM add_tasks($1, $2, $3::text[], $4, $5::text[], $6::text[], $7::bigint);

-- name: watchNextTask
SELECT watch_next_task($1);

-- name: retryWorkflow
-- ($1 workflow id, $2 step ids to run again from scratch, $3 the only step id or null, $4 statuses a retry takes up)
SELECT retries, events, pg_backend_pid() AS pid FROM retry_workflow($1, $2::text[], $3, $4::text[]);
