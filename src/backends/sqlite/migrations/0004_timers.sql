-- deflow embedded schema: step timers (addStep / addAfter `delay` and `startAt`). A step's
-- due time is set when its turn comes (dependencies done) and cleared with the step: a cancel
-- that finishes the step drops its timer with it (the index only holds waiting steps).
ALTER TABLE steps ADD COLUMN delay_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE steps ADD COLUMN start_at INTEGER;
ALTER TABLE steps ADD COLUMN ready_at INTEGER;
CREATE INDEX steps_timers ON steps (ready_at) WHERE status = 'waiting' AND ready_at IS NOT NULL;
