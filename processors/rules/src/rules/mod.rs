//! The rules, one module each. Each walks the session's events once (plus bounded look-ahead
//! scans) and pushes, for every candidate, a record with its decision time and, when decided with
//! a verdict worth reporting, an outcome (signal, suppressed or undetermined).

pub(crate) mod click;
pub(crate) mod form;
pub(crate) mod nav;
pub(crate) mod rage;
pub(crate) mod server;
