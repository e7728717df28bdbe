"""Benchmarks: thumbnail speed and memory against the naive approach and libvips, cold start,
pipeline throughput and cost per million images. `python -m bench` writes bench/RESULTS.md.
"""
