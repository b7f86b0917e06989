-- deflow embedded schema, version 4: a workflow's business key (WorkFlow.create(name, { key })),
-- indexed for listing by key (the running workflows of a key are looked up often).
ALTER TABLE workflows ADD COLUMN business_key TEXT;
CREATE INDEX workflows_by_key ON workflows (business_key, created_at DESC, id DESC) WHERE business_key IS NOT NULL;
