-- deflow embedded schema: range lease ids are never handed out twice. A job leased in a range
-- carries minus its lease id as its fencing token; without AUTOINCREMENT SQLite gives the
-- largest id again once its lease is gone (a cancel drops leases, a retry resets a step's
-- jobs), so a very late result of an attempt from before could match a new lease of the same
-- jobs. The table is rebuilt with the same columns and indexes.
CREATE TABLE leases_next (
  id      INTEGER PRIMARY KEY AUTOINCREMENT,
  owner   INTEGER NOT NULL,                  -- nodes.pk
  step_pk INTEGER NOT NULL,
  lo      INTEGER NOT NULL,                  -- first job id of the range (spans at most 4096 ids)
  hi      INTEGER NOT NULL,                  -- last job id of the range
  settled BLOB NOT NULL                      -- a bit per job: its outcome was recorded through this lease,
                                             -- or it left the range (released); then nothing more is accepted for it
);
INSERT INTO leases_next (id, owner, step_pk, lo, hi, settled) SELECT id, owner, step_pk, lo, hi, settled FROM leases;
DROP TABLE leases;
ALTER TABLE leases_next RENAME TO leases;
CREATE INDEX leases_by_owner ON leases (owner);
CREATE INDEX leases_by_step ON leases (step_pk);
