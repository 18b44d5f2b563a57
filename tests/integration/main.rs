//! premod's integration tests: real components (built by `tests/artifacts`) in the real host.

mod api;
mod authoring;
mod browser;
mod catalog;
mod cli;
mod extraction;
mod parallel;
mod registry;
mod runs;
mod sandbox;
mod support;
mod validation;
