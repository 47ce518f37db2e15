//! tierdb
