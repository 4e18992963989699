"""Tools for sweeps and ablation studies: the multirun summarizer."""
