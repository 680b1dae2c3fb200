//! Executors: where an attempt's workspace lives and where its agent runs. The
//! executor abstraction itself (`Launch`, the backend trait, `local` and `docker`) lands
//! from another branch; this module holds the `kubernetes` backend.

pub mod kubernetes;
