//! The incidents stage (work in progress).
