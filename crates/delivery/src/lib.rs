//! Where delivered files live: the object-store layer (the embedded bucket store by default,
//! any S3-compatible service when configured) that S3 requests and trail delivery write into.
//!
//! # Layout
//! - [`store`]: the [`store::ObjectStore`] trait, its types and errors.
//! - [`local`]: [`local::LocalStore`], the embedded, crash-safe store in the data directory.

pub mod local;
pub mod store;

pub use local::LocalStore;
pub use store::{ByteRange, ObjectInfo, ObjectStore, PutOptions, StoreError};
