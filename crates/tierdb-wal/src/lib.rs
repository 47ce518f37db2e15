//! tierdb-wal: being written
