//! Real-data tests (filled in below).
