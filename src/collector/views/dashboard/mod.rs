//! `spartakus dashboard`: a read-only web page over a store.
//!
//! - [`page`]: the page, from a [`page::View`] of the fleet (pure).
//! - [`chart`]: the SVG charts (pure).
//! - [`serve`]: the server: the page from a store's rollups, cached briefly; the routes.

pub(crate) mod chart;
pub mod page;
pub(crate) mod serve;

pub(crate) use serve::run;
