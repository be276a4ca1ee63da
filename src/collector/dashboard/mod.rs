//! `spartakus dashboard`: a read-only web page over a store.
//!
//! - [`page`]: the page, from a [`page::View`] of the fleet (pure).
//! - [`chart`]: the SVG charts (pure).

pub mod chart;
pub mod page;
