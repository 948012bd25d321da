//! missive's projector: consumes the event log and maintains the PostgreSQL views exactly once.
