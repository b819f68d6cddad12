//! The Carnet node: IO around the pure protocol core.
