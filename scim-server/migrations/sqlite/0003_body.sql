-- The rendered form of each resource (src/store/body.rs), filled on write. Same layout as
-- ../postgres/0003_body.sql.
ALTER TABLE scim_resources ADD COLUMN body_schemas TEXT;
ALTER TABLE scim_resources ADD COLUMN body TEXT;
ALTER TABLE scim_resources ADD COLUMN body_key TEXT;
