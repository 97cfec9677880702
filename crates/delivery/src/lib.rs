//! The IO-free parts of trail delivery: which records a trail takes, how its log files and
//! digests are named and built, and how digests are signed. Writing them into a bucket is the
//! delivery worker's (`opentrail-cloudtrail`), through `opentrail-objects`.
//!
//! # Layout
//! - [`selectors`]: which records a trail delivers (basic and advanced event selectors).
//! - [`logfile`]: log and digest object keys, the `{"Records":[…]}` body, gzip, splitting.
//! - [`digest`]: digest documents, the string to sign, hashes.
//! - [`signing`]: RSA signing keys (SHA256withRSA), public-key DER and fingerprints.

pub mod digest;
pub mod logfile;
pub mod selectors;
pub mod signing;
