//! The API's routes and the access each needs (spec "Endpoints"; activity from the key-activity
//! spec). Paths are relative to `/api`.

use proem_api::scope::Permission::*;

use super::table::Access::{Key, SessionOnly};
use super::table::{RouteDef, route_table};
use super::{activity, grants};

route_table! {
    GET "/settings/api-keys/activity" Key(ActivityRead) => activity::list_activity,
    GET "/settings/api-keys/activity/stats" Key(ActivityRead) => activity::activity_stats,
    GET "/v2/keys/{key_id}/grants" SessionOnly => grants::manage_grants,
    POST "/v2/keys/{key_id}/grants" SessionOnly => grants::manage_grants,
    DELETE "/v2/keys/{key_id}/grants" SessionOnly => grants::manage_grants,
}
