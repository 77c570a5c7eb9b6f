-- Token management: where a stored token came from ('config' tokens given as sha256: hashes in
-- the configuration file are removed at start when the file no longer lists them; 'cli' and
-- 'first-start' tokens stay until revoked), whether it may only read, and when it was last used
-- (updated at most once a minute per token). Same layout as ../sqlite/0005_tokens_audit.sql.
ALTER TABLE scim_tokens ADD COLUMN source TEXT NOT NULL DEFAULT 'cli';
ALTER TABLE scim_tokens ADD COLUMN read_only BIGINT NOT NULL DEFAULT 0;
ALTER TABLE scim_tokens ADD COLUMN last_used TEXT;
UPDATE scim_tokens SET source = 'config' WHERE label = 'config';
UPDATE scim_tokens SET source = 'first-start' WHERE label = 'first start';

-- The audit trail: one row per change, written in the transaction of the change. Attribute
-- names only, never values.
CREATE TABLE scim_audit (
    seq           BIGSERIAL PRIMARY KEY,
    at            TEXT NOT NULL,
    tenant        TEXT COLLATE "C" NOT NULL,
    actor         TEXT NOT NULL,
    request_id    TEXT,
    operation     TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    attributes    TEXT NOT NULL,
    old_version   BIGINT,
    new_version   BIGINT
);
CREATE INDEX scim_audit_tenant_at ON scim_audit (tenant, at);
CREATE INDEX scim_audit_resource ON scim_audit (tenant, resource_id, seq);
CREATE INDEX scim_audit_at ON scim_audit (at);
