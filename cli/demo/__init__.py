"""What the demo, the tests and the benchmarks run against: a real service and a real webhook."""
