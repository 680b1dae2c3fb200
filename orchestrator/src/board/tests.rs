//! Each board method: its live message goes out after its transaction commits.
