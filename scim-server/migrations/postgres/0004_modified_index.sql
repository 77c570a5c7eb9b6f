-- meta.lastModified ranges seek (tenant, last_modified). The index no longer starts with
-- (tenant, resource_type): a planner without statistics would take that prefix for as
-- selective as the primary key and read a whole tenant for a lookup by id. Same layout as
-- ../sqlite/0004_modified_index.sql.
DROP INDEX scim_resources_modified;
CREATE INDEX scim_resources_modified ON scim_resources (tenant, last_modified);
