"""Surrogates built from others: `auto` (chosen per problem by held-out scores) and `hybrid`."""
