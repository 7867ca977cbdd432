"""The MovieLens-100K track: rating prediction per genre (the paper's Tables 3, 5, 7, 8)."""
