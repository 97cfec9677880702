//! Where delivered files live: the object-store layer (the embedded bucket store by default,
//! any S3-compatible service when configured) that S3 requests and trail delivery write into.
//!
//! # Layout
//! - [`store`]: the [`store::ObjectStore`] trait, its types and errors.
//! - [`local`]: [`local::LocalStore`], the embedded, crash-safe store in the data directory.
//! - [`selectors`]: which records a trail delivers (basic and advanced event selectors).
//! - [`logfile`]: log and digest object keys, the `{"Records":[…]}` body, gzip, splitting.
//! - [`digest`]: digest documents, the string to sign, hashes.
//! - [`signing`]: RSA signing keys (SHA256withRSA), public-key DER and fingerprints.

pub mod digest;
pub mod local;
pub mod logfile;
pub mod selectors;
pub mod signing;
pub mod store;

pub use local::LocalStore;
pub use store::{ByteRange, ObjectInfo, ObjectStore, PutOptions, Sse, StoreError};
