-- Index seeks for every lookup identity providers make, counters for unfiltered totals, and
-- referential integrity of members kept by the database. Same layout as ../sqlite/0002_indexes.sql.

-- Byte-order ("C") collation on every key column: the filter translation compares with
-- COLLATE "C" (ASCII case folding, code point order), and an index serves a comparison only
-- when their collations agree.
ALTER TABLE scim_resources
    ALTER COLUMN tenant TYPE TEXT COLLATE "C",
    ALTER COLUMN resource_type TYPE TEXT COLLATE "C",
    ALTER COLUMN id TYPE TEXT COLLATE "C",
    ALTER COLUMN user_name_key TYPE TEXT COLLATE "C",
    ALTER COLUMN created TYPE TEXT COLLATE "C",
    ALTER COLUMN last_modified TYPE TEXT COLLATE "C";
ALTER TABLE scim_members
    ALTER COLUMN tenant TYPE TEXT COLLATE "C",
    ALTER COLUMN group_id TYPE TEXT COLLATE "C",
    ALTER COLUMN member_id TYPE TEXT COLLATE "C",
    ALTER COLUMN member_type TYPE TEXT COLLATE "C";

-- Resource ids are unique per tenant (server-assigned UUIDs): members reference them.
DROP INDEX scim_resources_id;
CREATE UNIQUE INDEX scim_resources_id ON scim_resources (tenant, id);
-- meta.lastModified ranges (what a delta sync asks for).
CREATE INDEX scim_resources_modified ON scim_resources (tenant, resource_type, last_modified);

-- Members: rows whose group and member must exist; deleting either removes the row. The
-- foreign key also locks the member against a concurrent delete while it is being added.
DELETE FROM scim_members m
    WHERE NOT EXISTS (SELECT 1 FROM scim_resources g WHERE g.tenant = m.tenant AND g.id = m.group_id)
       OR NOT EXISTS (SELECT 1 FROM scim_resources u WHERE u.tenant = m.tenant AND u.id = m.member_id);
ALTER TABLE scim_members
    ADD CONSTRAINT scim_members_group FOREIGN KEY (tenant, group_id)
        REFERENCES scim_resources (tenant, id) ON DELETE CASCADE,
    ADD CONSTRAINT scim_members_member_fk FOREIGN KEY (tenant, member_id)
        REFERENCES scim_resources (tenant, id) ON DELETE CASCADE;

-- The attribute-value index (src/store/index.rs): every string leaf, folded, by path.
CREATE TABLE scim_index (
    tenant        TEXT COLLATE "C" NOT NULL,
    resource_type TEXT COLLATE "C" NOT NULL,
    attr          TEXT COLLATE "C" NOT NULL,
    value         TEXT COLLATE "C" NOT NULL,
    id            TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant, resource_type, attr, value, id)
);
CREATE INDEX scim_index_owner ON scim_index (tenant, id);

-- Resources per tenant and type, maintained on create and delete (unfiltered totalResults).
CREATE TABLE scim_counts (
    tenant        TEXT COLLATE "C" NOT NULL,
    resource_type TEXT COLLATE "C" NOT NULL,
    n             BIGINT NOT NULL,
    PRIMARY KEY (tenant, resource_type)
);
INSERT INTO scim_counts (tenant, resource_type, n)
    SELECT tenant, resource_type, COUNT(*) FROM scim_resources GROUP BY tenant, resource_type;

-- Settings of the store itself (e.g. whether the index has been filled for existing rows).
CREATE TABLE scim_store_state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
