//! Every route Scoot answers, in one table: method and path, what is taken
//! from the request, the handler, the label its requests are counted under
//! in `/metrics`, and whether its failures are pages or JSON.
//!
//! Path parameters are typed (`PhotoId`, `AlbumId` parse with `FromStr`):
//! a malformed id matches no route, so it is a 404 like any unknown path —
//! the same answer everywhere. No two routes match the same request.
//!
//! A request is tried only against the routes whose paths begin with its
//! own first segment ([`Site`]): trying a route, even one that does not
//! match, costs boxed futures, and the table has over seventy. Within a
//! group the order puts the busiest first.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use warp::filters::BoxedFilter;
use warp::http::{HeaderMap, Method};
use warp::path::Tail;
use warp::{Filter, Rejection};

use super::error::{Answer, Failure, Shape, render};
use super::extract::{NoFields, signed_form, state, validators, viewer};
use super::multipart::form_body;
use super::state::AppState;
use super::{album_photo, trash, upload};
use super::{albums, assets, download, gallery, health, media, photo};
use crate::domain::{AlbumId, PhotoId};

mod account_routes;
mod api_routes;

/// One route: its filter, and the first segment of the paths it answers
/// (`""` for `/`), which decides which requests try it.
pub struct Route {
    segment: &'static str,
    filter: BoxedFilter<(Labelled,)>,
}

/// A response and the label of the route that gave it, for the metrics
/// layer. (A field, not a response extension: extensions allocate a map
/// for every response.)
pub struct Labelled(pub &'static str, pub warp::reply::Response);

/// A route's filter, its failures shown as `shape`, its responses labelled.
/// `label` is the route's path pattern (`/photos/:id`), so it also names
/// the route's first segment.
fn route<F>(label: &'static str, shape: Shape, filter: F) -> Route
where
    F: Filter<Extract = (Answer,), Error = Rejection> + Clone + Send + Sync + 'static,
{
    let filter = filter
        .map(move |answer: Answer| {
            let resp = match answer {
                Ok(resp) => resp,
                Err(failure) => render(&failure.shaped(shape)),
            };
            Labelled(label, resp)
        })
        .boxed();
    Route {
        segment: first_segment(label),
        filter,
    }
}

/// `photos` of `/photos/1`, `""` of `/`.
fn first_segment(path: &str) -> &str {
    let path = path.strip_prefix('/').unwrap_or(path);
    path.split('/').next().unwrap_or("")
}

fn page<F>(label: &'static str, filter: F) -> Route
where
    F: Filter<Extract = (Answer,), Error = Rejection> + Clone + Send + Sync + 'static,
{
    route(label, Shape::Html, filter)
}

fn json_route<F>(label: &'static str, filter: F) -> Route
where
    F: Filter<Extract = (Answer,), Error = Rejection> + Clone + Send + Sync + 'static,
{
    route(label, Shape::Json, filter)
}

fn get_or_head() -> impl Filter<Extract = (Method,), Error = Rejection> + Clone {
    warp::get().or(warp::head()).unify().and(warp::method())
}

fn headers() -> impl Filter<Extract = (HeaderMap,), Error = Infallible> + Clone {
    warp::header::headers_cloned()
}

/// The whole table, grouped by first segment (see [`Site`]), each group
/// as one filter.
pub fn groups(s: &AppState) -> Vec<(&'static str, BoxedFilter<(Labelled,)>)> {
    let max_upload = s.app.uploads.max_bytes();
    let busiest = [
        // Media and assets: most of the traffic. `GET` and `HEAD` of media
        // are answered before the table, by the front (`web::front`), with
        // the same handler; these entries answer the other methods (405).
        json_route(
            "/media/variants",
            warp::path!("media" / "variants" / ..)
                .and(warp::path::tail())
                .and(get_or_head())
                .and(headers())
                .and(state(s))
                .then(
                    |tail: Tail, method, headers: HeaderMap, state: AppState| async move {
                        media::by_key("variants", tail.as_str(), method, &headers, &state).await
                    },
                ),
        ),
        json_route(
            "/media/originals",
            warp::path!("media" / "originals" / ..)
                .and(warp::path::tail())
                .and(get_or_head())
                .and(headers())
                .and(state(s))
                .then(
                    |tail: Tail, method, headers: HeaderMap, state: AppState| async move {
                        media::by_key("originals", tail.as_str(), method, &headers, &state).await
                    },
                ),
        ),
        page(
            "/assets",
            warp::path!("assets" / String)
                .and(get_or_head())
                .and(headers())
                .then(|name: String, _method, headers: HeaderMap| async move {
                    assets::serve(&name, &headers).ok_or_else(|| Failure::not_found("asset"))
                }),
        ),
        page(
            "/",
            warp::path::end()
                .and(warp::get())
                .and(warp::query())
                .and(viewer(s))
                .and(validators())
                .and(state(s))
                .then(gallery::page),
        ),
        page(
            "/photos/:id",
            warp::path!("photos" / PhotoId)
                .and(warp::get())
                .and(viewer(s))
                .and(validators())
                .and(state(s))
                .then(photo::page),
        ),
        json_route(
            "/photos/:id/size",
            warp::path!("photos" / PhotoId / String)
                .and(get_or_head())
                .and(headers())
                .and(viewer(s))
                .and(state(s))
                .then(media::negotiated),
        ),
    ];
    let pages = [
        // Pages and their forms.
        page(
            "/s/:token",
            warp::path!("s" / String)
                .and(warp::get())
                .and(viewer(s))
                .and(validators())
                .and(state(s))
                .then(photo::shared),
        ),
        page(
            "/photos/:id/edit",
            warp::path!("photos" / PhotoId / "edit")
                .and(warp::post())
                .and(signed_form(s, photo::EDIT_FORM_LIMIT))
                .and(state(s))
                .then(photo::edit),
        ),
        page(
            "/photos/:id/delete",
            warp::path!("photos" / PhotoId / "delete")
                .and(warp::post())
                .and(signed_form::<NoFields>(s, NoFields::LIMIT))
                .and(state(s))
                .then(photo::delete),
        ),
        page(
            "/photos/:id/albums",
            warp::path!("photos" / PhotoId / "albums")
                .and(warp::post())
                .and(signed_form(s, albums::FORM_LIMIT))
                .and(state(s))
                .then(albums::add),
        ),
        page(
            "/albums",
            warp::path!("albums")
                .and(warp::get())
                .and(viewer(s))
                .and(validators())
                .and(state(s))
                .then(albums::list),
        ),
        page(
            "/albums",
            warp::path!("albums")
                .and(warp::post())
                .and(signed_form(s, albums::FORM_LIMIT))
                .and(state(s))
                .then(albums::create),
        ),
        page(
            "/albums/:id",
            warp::path!("albums" / AlbumId)
                .and(warp::get())
                .and(warp::query())
                .and(viewer(s))
                .and(validators())
                .and(state(s))
                .then(albums::page),
        ),
        page(
            "/albums/:id/edit",
            warp::path!("albums" / AlbumId / "edit")
                .and(warp::post())
                .and(signed_form(s, albums::FORM_LIMIT))
                .and(state(s))
                .then(albums::edit),
        ),
        page(
            "/albums/:id/delete",
            warp::path!("albums" / AlbumId / "delete")
                .and(warp::post())
                .and(signed_form::<NoFields>(s, NoFields::LIMIT))
                .and(state(s))
                .then(albums::delete),
        ),
        page(
            "/albums/:id/cover",
            warp::path!("albums" / AlbumId / "cover")
                .and(warp::post())
                .and(signed_form(s, albums::FORM_LIMIT))
                .and(state(s))
                .then(albums::cover),
        ),
        page(
            "/albums/:id/remove",
            warp::path!("albums" / AlbumId / "remove")
                .and(warp::post())
                .and(signed_form(s, albums::FORM_LIMIT))
                .and(state(s))
                .then(albums::remove),
        ),
        page(
            "/albums/:id/:photo",
            warp::path!("albums" / AlbumId / PhotoId)
                .and(warp::get())
                .and(viewer(s))
                .and(validators())
                .and(state(s))
                .then(album_photo::by_id),
        ),
        page(
            "/a/:token/:photo",
            warp::path!("a" / String / PhotoId)
                .and(warp::get())
                .and(viewer(s))
                .and(validators())
                .and(state(s))
                .then(album_photo::by_link),
        ),
        page(
            "/albums/:id/download",
            warp::path!("albums" / AlbumId / "download")
                .and(warp::get())
                .and(viewer(s))
                .and(state(s))
                .then(download::album),
        ),
        page(
            "/a/:token/download",
            warp::path!("a" / String / "download")
                .and(warp::get())
                .and(viewer(s))
                .and(state(s))
                .then(download::shared_album),
        ),
        page(
            "/a/:token",
            warp::path!("a" / String)
                .and(warp::get())
                .and(warp::query())
                .and(viewer(s))
                .and(validators())
                .and(state(s))
                .then(albums::shared),
        ),
        page(
            "/trash",
            warp::path!("trash")
                .and(warp::get())
                .and(warp::query())
                .and(viewer(s))
                .and(state(s))
                .then(trash::page),
        ),
        page(
            "/trash/empty",
            warp::path!("trash" / "empty")
                .and(warp::get())
                .and(viewer(s))
                .and(state(s))
                .then(trash::confirm_empty),
        ),
        page(
            "/trash/empty",
            warp::path!("trash" / "empty")
                .and(warp::post())
                .and(signed_form::<NoFields>(s, NoFields::LIMIT))
                .and(state(s))
                .then(trash::empty),
        ),
        page(
            "/trash/:id/restore",
            warp::path!("trash" / PhotoId / "restore")
                .and(warp::post())
                .and(signed_form::<NoFields>(s, NoFields::LIMIT))
                .and(state(s))
                .then(trash::restore),
        ),
        page(
            "/trash/:id/delete",
            warp::path!("trash" / PhotoId / "delete")
                .and(warp::get())
                .and(viewer(s))
                .and(state(s))
                .then(trash::confirm_purge),
        ),
        page(
            "/trash/:id/delete",
            warp::path!("trash" / PhotoId / "delete")
                .and(warp::post())
                .and(signed_form::<NoFields>(s, NoFields::LIMIT))
                .and(state(s))
                .then(trash::purge),
        ),
        page(
            "/upload",
            warp::path!("upload")
                .and(warp::get())
                .and(warp::query())
                .and(viewer(s))
                .and(state(s))
                .then(upload::page),
        ),
        page(
            "/upload",
            warp::path!("upload")
                .and(warp::post())
                .and(viewer(s))
                .and(form_body(max_upload).or_else(as_page))
                .and(state(s))
                .then(upload::submit),
        ),
        // Operations.
        json_route(
            "/healthz",
            warp::path!("healthz")
                .and(get_or_head())
                .then(health::healthz),
        ),
        json_route(
            "/readyz",
            warp::path!("readyz")
                .and(get_or_head())
                .and(state(s))
                .then(health::readyz),
        ),
        json_route(
            "/metrics",
            warp::path!("metrics")
                .and(warp::get())
                .and(warp::header::optional::<String>("authorization"))
                .and(state(s))
                .then(health::metrics),
        ),
        // Anything else under /api is a JSON 404 (ranked below every other
        // rejection, so a known path with the wrong method is still a 405).
        Route {
            segment: "api",
            filter: warp::path("api")
                .and_then(|| async {
                    Err::<Labelled, _>(warp::reject::custom(super::error::ApiNotFound))
                })
                .boxed(),
        },
    ];
    let mut groups: Vec<(&'static str, Vec<BoxedFilter<(Labelled,)>>)> = Vec::new();
    let every = busiest
        .into_iter()
        .chain(api_routes::routes(s))
        .chain(account_routes::routes(s))
        .chain(pages);
    for Route { segment, filter } in every {
        match groups.iter_mut().find(|(s, _)| *s == segment) {
            Some((_, filters)) => filters.push(filter),
            None => groups.push((segment, vec![filter])),
        }
    }
    groups
        .into_iter()
        .map(|(segment, filters)| {
            // Nested so that the first route is tried first and cheapest.
            let chained = filters
                .into_iter()
                .rev()
                .reduce(|rest, route| route.or(rest).unify().boxed())
                .expect("a group has a route");
            (segment, chained)
        })
        .collect()
}

/// What answers a path no route begins with: a 404 page.
pub fn nowhere() -> BoxedFilter<(Labelled,)> {
    warp::any()
        .and_then(|| async { Err::<Labelled, _>(warp::reject::not_found()) })
        .boxed()
}

/// The site as a service: each request goes to the service of the group
/// its path's first segment names, or to `other`. hyper clones the
/// service for every request, so the groups are shared, and only the
/// chosen one is cloned.
pub struct Site<S>(Arc<Groups<S>>);

struct Groups<S> {
    named: Vec<(&'static str, S)>,
    other: S,
}

impl<S> Clone for Site<S> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<S> Site<S> {
    /// `named` groups by first segment, and `other` for every other path.
    pub fn new(named: impl IntoIterator<Item = (&'static str, S)>, other: S) -> Self {
        Self(Arc::new(Groups {
            named: named.into_iter().collect(),
            other,
        }))
    }
}

impl<S, B> tower_service::Service<warp::http::Request<B>> for Site<S>
where
    S: tower_service::Service<warp::http::Request<B>> + Clone,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // warp's services are always ready.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: warp::http::Request<B>) -> Self::Future {
        let segment = first_segment(req.uri().path());
        let groups = &*self.0;
        let service = groups
            .named
            .iter()
            .find(|(s, _)| *s == segment)
            .map_or(&groups.other, |(_, service)| service);
        service.clone().call(req)
    }
}

/// A refusal from a body filter (413), shown as a page.
async fn as_page(rejection: Rejection) -> Result<(warp::multipart::FormData,), Rejection> {
    match rejection.find::<Failure>() {
        Some(f) => Err(f.clone().shaped(Shape::Html).reject()),
        None => Err(rejection),
    }
}
