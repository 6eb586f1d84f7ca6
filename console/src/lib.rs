//! The console API (work in progress).
