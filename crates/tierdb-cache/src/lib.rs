//! placeholder until the cache lands
