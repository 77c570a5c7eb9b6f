-- The unfiltered count of a tenant's resources of one type in 16 rows ("shards") instead of
-- one: every create and delete updated the same row, so concurrent creates of one tenant
-- queued on its row lock until each commit. A write now adds to a random shard; a read sums
-- the shards of (tenant, resource_type), an index range of at most 16 rows. Existing counts
-- become shard 0. SQLite has a single writer and keeps one row (no such migration there).
ALTER TABLE scim_counts ADD COLUMN shard SMALLINT NOT NULL DEFAULT 0;
ALTER TABLE scim_counts DROP CONSTRAINT scim_counts_pkey;
ALTER TABLE scim_counts ADD CONSTRAINT scim_counts_pkey PRIMARY KEY (tenant, resource_type, shard);
ALTER TABLE scim_counts ALTER COLUMN shard DROP DEFAULT;
