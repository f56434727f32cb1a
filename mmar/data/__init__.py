"""Data layer: annotations, word vectors, zero-shot splits, the feature store, the stand-in data."""
