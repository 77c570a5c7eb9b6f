//! Provision and deprovision a user against a SCIM service, e.g. the project's own server:
//!
//! ```sh
//! cargo run --release -p scim-server            # prints a token
//! SCIM_URL=http://127.0.0.1:8080/scim/v2 SCIM_TOKEN=<token> cargo run -p scim-client --example provision
//! ```

use futures::TryStreamExt;
use scim_client::{Client, ListQuery};
use scim_core::{Filter, Group, User};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("SCIM_URL").unwrap_or_else(|_| "http://127.0.0.1:8080/scim/v2".into());
    let token =
        std::env::var("SCIM_TOKEN").map_err(|_| "set SCIM_TOKEN to the server's bearer token")?;
    let client = Client::builder(url)
        .bearer_token(token)
        .rate_limit(20.0, 5)
        .build()?;

    // Joiner: create the user unless it exists (lookup by userName first).
    let user_name = "ada.lovelace@example.com";
    let existing: Vec<User> = client
        .list_all(
            "Users",
            ListQuery::new().filter(Filter::eq("userName", user_name)),
        )
        .try_collect()
        .await?;
    let user = match existing.into_iter().next() {
        Some(u) => u,
        None => {
            let mut u = User::new(user_name);
            u.display_name = Some("Ada Lovelace".into());
            client.create("Users", &u).await?
        }
    };
    let user_id = user.id.clone().ok_or("the service returned no id")?;
    println!("user {user_name} has id {user_id}");

    // Give her a group.
    let groups: Vec<Group> = client
        .list_all(
            "Groups",
            ListQuery::new().filter(Filter::eq("displayName", "Analysts")),
        )
        .try_collect()
        .await?;
    let group = match groups.into_iter().next() {
        Some(g) => g,
        None => client.create("Groups", &Group::new("Analysts")).await?,
    };
    let group_id = group.id.ok_or("the service returned no group id")?;
    client
        .add_members(&group_id, std::slice::from_ref(&user_id))
        .await?;
    println!("added to group Analysts ({group_id})");

    // Leaver: deactivate (the safe default), never delete blindly.
    client.deactivate_user(&user_id).await?;
    let after: User = client.get("Users", &user_id).await?;
    println!("active is now {:?}", after.active);
    Ok(())
}
