"""Surrogates with a closed-form Gaussian posterior: the GP, the infinite-width BNN (NNGP kernel) and deep kernel learning."""
