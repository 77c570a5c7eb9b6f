-- The rendered form of each resource (src/store/body.rs), filled on write. Same layout as
-- ../sqlite/0003_body.sql.
ALTER TABLE scim_resources
    ADD COLUMN body_schemas TEXT,
    ADD COLUMN body TEXT,
    ADD COLUMN body_key TEXT;
