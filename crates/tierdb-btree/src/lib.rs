//! tierdb's B+tree tier (placeholder doc, expanded below).

mod checkpoint;
mod codec;
mod cursor;
mod free_list;
mod header;
mod layout;
mod mutate;
mod node;
mod open;
mod options;
mod page_format;
mod read;
mod space;
mod split;
mod store;
mod swizzle;
mod tier;
mod verify;
mod view;

pub use options::BTreeOptions;
pub use tier::BTreeTier;
pub use verify::VerifyReport;
