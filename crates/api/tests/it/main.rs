//! Integration tests for opentrail-api: SigV4 verification against requests signed by the real
//! botocore signer (fixtures/sigv4_vectors.json, made by fixtures/make_sigv4_vectors.py), input
//! validation against the real botocore CloudTrail model, the embedded models, and CloudTrail
//! record shaping driven by them (including a walk of every operation that carries a map).

mod cloudtrail_model;
mod embedded_models;
mod no_panic;
mod record_elements;
mod record_walk;
mod sigv4_vectors;
