//! Where objects live: the object-store layer that the S3 API and trail delivery write into —
//! the embedded bucket store in the data directory by default, any S3-compatible service when
//! one is configured for delivery.
//!
//! # Layout
//! - [`store`]: the [`store::ObjectStore`] trait, its types and errors.
//! - [`local`]: [`local::LocalStore`], the embedded, crash-safe store in the data directory.
//! - [`s3`]: [`s3::S3Store`], the store on an S3-compatible service (AWS S3, MinIO, Ceph, moto)
//!   through the `object_store` crate; per-write SSE-S3 / SSE-KMS, user metadata, raw-prefix
//!   listings.

pub mod local;
pub mod s3;
pub mod store;

pub use local::LocalStore;
pub use s3::{S3Store, S3StoreConfig};
pub use store::{ByteRange, ObjectInfo, ObjectStore, PutOptions, Sse, StoreError};
