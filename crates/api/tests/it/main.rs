//! Integration tests for opentrail-api: SigV4 verification against requests signed by the real
//! botocore signer (fixtures/sigv4_vectors.json, made by fixtures/make_sigv4_vectors.py) and
//! input validation against the real botocore CloudTrail model.

mod cloudtrail_model;
mod no_panic;
mod sigv4_vectors;
