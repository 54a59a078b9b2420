//! (filled in by the catalog / credentials work)
