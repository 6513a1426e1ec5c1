"""The live watch: state store, ingestion, the watcher, and the reads (docs/serving.md)."""
