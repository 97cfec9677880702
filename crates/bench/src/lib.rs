//! opentrail-bench
