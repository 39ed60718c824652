"""Finite Bayesian neural networks: the shared MLP and training code, HMC and SGHMC samplers, deep ensembles and linearised Laplace."""
