//! opentrail-history
