-- deflow PostgreSQL schema: step timers (addStep / addAfter `delay` and `startAt`). A step's
-- due time is set when its turn comes (dependencies done) and stays on its row: a cancel that
-- finishes the step drops it from the timer index (which only holds waiting steps).
ALTER TABLE steps ADD COLUMN delay_ms bigint NOT NULL DEFAULT 0;
ALTER TABLE steps ADD COLUMN start_at timestamptz;
ALTER TABLE steps ADD COLUMN due_at timestamptz;
CREATE INDEX steps_timers ON steps (due_at) WHERE status = 'waiting' AND due_at IS NOT NULL;
