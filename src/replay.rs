//! Replaying transcripts against a server (client role) or a client (server role).
