//! The deterministic protocol simulator.
