//! missive's client side: WebSocket sessions, sync, history reads, live push and offline push to vendors.
