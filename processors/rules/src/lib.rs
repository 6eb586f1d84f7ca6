//! Frustration rules: pure functions over a session's ordered events (in progress).
