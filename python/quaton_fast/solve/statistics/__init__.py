"""Success statistics of a solver over independent restarts: Beta posteriors of the success
probability (stats) and polished restart trials (trials)."""
