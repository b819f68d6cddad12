//! The ledger: a pure function from a set of valid events to a state.
