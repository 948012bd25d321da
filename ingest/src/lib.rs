//! missive's write side: validates sends and relationship changes (REST, WebSocket, commands topic), checks permissions against the views, appends events.
