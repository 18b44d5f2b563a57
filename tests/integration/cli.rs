//! The `premod` binary: output format, exit codes, the seed's log lines.
