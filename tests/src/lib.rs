//! kiln-e2e holds end-to-end scenarios in `tests/`; the library is empty on purpose.
