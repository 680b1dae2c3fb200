//! `harness worker`: runs one remote attempt.
