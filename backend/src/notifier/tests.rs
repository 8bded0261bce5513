//! Tests of the notifier against a local HTTP sink.
