//! Rendering results as text, JSON and JUnit.
