//! Operator tools that work on the log itself rather than on the views.

pub mod export;
