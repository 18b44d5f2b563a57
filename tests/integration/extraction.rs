//! The first-party image_classification module on real and hostile archives.
