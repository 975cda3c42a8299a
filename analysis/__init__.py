"""Statistics, comparisons and plots of hmarl runs (reads ``results/``)."""
