//! Integration tests for opentrail-api: SigV4 verification against requests signed by the real
//! botocore signer (fixtures/sigv4_vectors.json, made by fixtures/make_sigv4_vectors.py), input
//! validation against the real botocore CloudTrail model and the embedded models.

mod cloudtrail_model;
mod embedded_models;
mod no_panic;
mod sigv4_vectors;
