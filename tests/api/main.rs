//! The end-to-end tests: one binary (the workspace is linked once), one
//! module per area, against the real broker and PostgreSQL. Each test makes
//! its own database and topics (`support::TestApp`), so tests run side by
//! side as threads; the few that need the machine to themselves hold
//! `support::exclusive()`.

#[path = "../support/fake_vendors.rs"]
mod fake_vendors;
#[path = "../support/mod.rs"]
mod support;

mod access_control;
mod accounts;
mod backpressure;
mod batch_and_import;
mod browser_demo;
mod callbacks;
mod commands_topic;
mod confluent_framing;
mod conversations;
mod devices_and_requests;
mod event_framing;
mod export;
mod faults;
mod flat_cost;
mod fuzz_pipeline;
mod hostile_input;
mod offline_push;
mod paging_and_status;
mod projector_apply;
mod projector_exactly_once;
mod projector_resilience;
mod rate_limits;
mod read_and_unread;
mod read_receipts;
mod recall_and_edit;
mod recent_contacts_and_caps;
mod relationships;
mod rest_send_checks;
mod sdk_client;
mod send_controls;
mod send_end_to_end;
mod send_probes;
mod session_upkeep;
mod typescript_client;
mod views_rebuild;
mod websocket_sessions;
