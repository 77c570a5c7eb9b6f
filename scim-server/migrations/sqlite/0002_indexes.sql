-- Index seeks for every lookup identity providers make, counters for unfiltered totals, and
-- referential integrity of members kept by the database. Same layout as ../postgres/0002_indexes.sql.

-- Resource ids are unique per tenant (server-assigned UUIDs): members reference them.
DROP INDEX scim_resources_id;
CREATE UNIQUE INDEX scim_resources_id ON scim_resources (tenant, id);
-- meta.lastModified ranges (what a delta sync asks for).
CREATE INDEX scim_resources_modified ON scim_resources (tenant, resource_type, last_modified);

-- Members: rows whose group and member must exist; deleting either removes the row.
CREATE TABLE scim_members_new (
    tenant      TEXT NOT NULL,
    group_id    TEXT NOT NULL,
    member_id   TEXT NOT NULL,
    member_type TEXT NOT NULL,
    display     TEXT,
    PRIMARY KEY (tenant, group_id, member_id),
    FOREIGN KEY (tenant, group_id) REFERENCES scim_resources (tenant, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant, member_id) REFERENCES scim_resources (tenant, id) ON DELETE CASCADE
) WITHOUT ROWID;
INSERT INTO scim_members_new (tenant, group_id, member_id, member_type, display)
    SELECT m.tenant, m.group_id, m.member_id, m.member_type, m.display FROM scim_members m
    WHERE EXISTS (SELECT 1 FROM scim_resources g WHERE g.tenant = m.tenant AND g.id = m.group_id)
      AND EXISTS (SELECT 1 FROM scim_resources u WHERE u.tenant = m.tenant AND u.id = m.member_id);
DROP TABLE scim_members;
ALTER TABLE scim_members_new RENAME TO scim_members;
CREATE INDEX scim_members_member ON scim_members (tenant, member_id);

-- The attribute-value index (src/store/index.rs): every string leaf, folded, by path.
CREATE TABLE scim_index (
    tenant        TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    attr          TEXT NOT NULL,
    value         TEXT NOT NULL,
    id            TEXT NOT NULL,
    PRIMARY KEY (tenant, resource_type, attr, value, id)
) WITHOUT ROWID;
CREATE INDEX scim_index_owner ON scim_index (tenant, id);

-- Resources per tenant and type, maintained on create and delete (unfiltered totalResults).
CREATE TABLE scim_counts (
    tenant        TEXT    NOT NULL,
    resource_type TEXT    NOT NULL,
    n             INTEGER NOT NULL,
    PRIMARY KEY (tenant, resource_type)
) WITHOUT ROWID;
INSERT INTO scim_counts (tenant, resource_type, n)
    SELECT tenant, resource_type, COUNT(*) FROM scim_resources GROUP BY tenant, resource_type;

-- Settings of the store itself (e.g. whether the index has been filled for existing rows).
CREATE TABLE scim_store_state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
