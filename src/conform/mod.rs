//! The conformance suite runner behind `notifspec conform`.
