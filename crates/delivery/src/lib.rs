//! opentrail-delivery
