//! opentrail-journal
