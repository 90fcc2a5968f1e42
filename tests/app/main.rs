//! Integration tests: the real app on port 0 (or the real binary, for the
//! crash test), a temp data dir, a real HTTP client.

mod admin;
mod albums;
mod arbitrary;
mod backup;
mod blobs;
mod caching;
mod check;
mod connections;
mod crash;
mod cross_site;
mod downloads;
mod events;
mod faults;
mod fidelity;
mod flood;
mod front;
mod helpers;
mod import;
mod login_limits;
mod media;
mod migrate;
mod pages;
mod people;
mod photos;
mod probes;
mod quality;
mod render;
mod selection;
mod statuses;
mod timeline;
mod tokens;
mod trash;
mod upload;
