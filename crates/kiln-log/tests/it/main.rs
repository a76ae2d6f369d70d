//! kiln-log tests: the prediction log written, rotated, recovered and read back (also by pyarrow).

mod predlog;
