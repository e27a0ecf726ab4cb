"""Side-by-side benchmarks: direct vs bare mitmdump vs Glassbreak. Run with `make bench`."""
