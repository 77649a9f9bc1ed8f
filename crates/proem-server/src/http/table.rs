//! The route table: every API route with the access it needs, in one place. The router is built
//! from it, the gate reads each route's row, and the authorization tests iterate it, so a route
//! cannot exist without a declared scope.

use axum::Router;
use axum::http::Method;
use axum::middleware::from_fn_with_state;
use axum::routing::MethodRouter;
use proem_api::scope::Permission;

use crate::middleware::guard::guard;
use crate::state::AppState;

/// What a caller needs to use a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// An API key granting this permission.
    Key(Permission),
    /// A signed-in web session; API keys get `api_key_not_permitted`.
    SessionOnly,
}

/// How a route's Idempotency-Key is scoped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdemScope {
    /// Per user and key.
    Standard,
    /// Per user, key and run generation (`@gen{N}`): a reopened run is a fresh boundary (spec
    /// changelog v1.1, finalize).
    PerGeneration,
}

/// One API route. `path` is relative to `/api`.
pub struct RouteDef {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
    pub idempotency: IdemScope,
    pub handler: fn() -> MethodRouter<AppState>,
}

impl std::fmt::Debug for RouteDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} /api{} ({:?})", self.method, self.path, self.access)
    }
}

/// Declares the route table: `METHOD "path" (@IdemScope)? access => handler`.
macro_rules! route_table {
    ($( $method:ident $path:literal $( @$scope:ident )? $access:expr => $handler:path ),* $(,)?) => {
        /// Every API route.
        pub static ROUTES: &[RouteDef] = &[
            $( RouteDef {
                method: axum::http::Method::$method,
                path: $path,
                access: $access,
                idempotency: $crate::http::table::route_table!(@scope $($scope)?),
                handler: || axum::routing::on(axum::routing::MethodFilter::$method, $handler),
            }, )*
        ];
    };
    (@scope) => { $crate::http::table::IdemScope::Standard };
    (@scope $scope:ident) => { $crate::http::table::IdemScope::$scope };
}
pub(crate) use route_table;

/// The API router: each route behind the gate configured by its row.
pub fn api_router(state: &AppState, routes: &'static [RouteDef]) -> Router<AppState> {
    routes.iter().fold(Router::new(), |router, def| {
        router.route(
            def.path,
            (def.handler)().layer(from_fn_with_state((state.clone(), def), guard)),
        )
    })
}
