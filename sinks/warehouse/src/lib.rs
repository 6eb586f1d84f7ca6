//! The warehouse stage (work in progress).
