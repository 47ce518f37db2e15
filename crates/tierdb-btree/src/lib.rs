//! tierdb-btree: being written
