//! opentrail-server
