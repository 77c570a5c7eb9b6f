-- SCIM storage, PostgreSQL. Same layout as ../sqlite/0001_init.sql.
CREATE TABLE scim_resources (
    tenant        TEXT    NOT NULL,
    resource_type TEXT    NOT NULL,
    id            TEXT    NOT NULL,
    user_name_key TEXT,            -- folded userName, unique per tenant (RFC 7643 §4.1.1)
    display_name  TEXT,            -- Group displayName, for the derived User.groups display
    data          JSONB   NOT NULL, -- resource JSON without id, meta, members, groups
    version       BIGINT  NOT NULL,
    created       TEXT    NOT NULL,
    last_modified TEXT    NOT NULL,
    PRIMARY KEY (tenant, resource_type, id)
);
CREATE UNIQUE INDEX scim_resources_user_name ON scim_resources (tenant, resource_type, user_name_key)
    WHERE user_name_key IS NOT NULL;
CREATE INDEX scim_resources_id ON scim_resources (tenant, id);

CREATE TABLE scim_members (
    tenant      TEXT NOT NULL,
    group_id    TEXT NOT NULL,
    member_id   TEXT NOT NULL,
    member_type TEXT NOT NULL,
    display     TEXT,
    PRIMARY KEY (tenant, group_id, member_id)
);
CREATE INDEX scim_members_member ON scim_members (tenant, member_id);

CREATE TABLE scim_tokens (
    token_hash TEXT PRIMARY KEY,   -- SHA-256 of the bearer token, hex
    tenant     TEXT NOT NULL,
    label      TEXT,
    created    TEXT NOT NULL
);
