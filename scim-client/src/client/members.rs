//! Group membership changes, split to the profile's per-PATCH limits.

use scim_core::filter::{CompareOp, Filter};
use scim_core::{AttrPath, PatchOp, PatchOperation};
use serde_json::Value;

use super::Client;
use crate::error::Result;

impl Client {
    /// Adds members to a group, in as many PATCH requests as the profile's limit needs.
    pub async fn add_members(&self, group_id: &str, member_ids: &[String]) -> Result<()> {
        let n = self.inner.profile.max_members_added_per_patch().max(1);
        for chunk in member_ids.chunks(n) {
            let values: Vec<Value> = chunk
                .iter()
                .map(|id| serde_json::json!({"value": id}))
                .collect();
            let op = PatchOperation::add(Some("members"), Value::Array(values));
            self.patch("Groups", group_id, &PatchOp::new(vec![op]), None)
                .await?;
        }
        Ok(())
    }

    /// Removes members from a group (`members[value eq "a" or value eq "b"]`), in as many
    /// PATCH requests as the profile's limit needs.
    pub async fn remove_members(&self, group_id: &str, member_ids: &[String]) -> Result<()> {
        let n = self.inner.profile.max_members_removed_per_patch().max(1);
        for chunk in member_ids.chunks(n) {
            let filter = chunk
                .iter()
                .map(|id| Filter::compare(AttrPath::new("value"), CompareOp::Eq, id.as_str()))
                .reduce(Filter::or)
                .expect("chunks are not empty");
            let path = scim_core::PatchPath {
                attr: AttrPath::new("members"),
                filter: Some(filter),
            };
            let op = PatchOperation::remove(&path.to_string());
            self.patch("Groups", group_id, &PatchOp::new(vec![op]), None)
                .await?;
        }
        Ok(())
    }
}
